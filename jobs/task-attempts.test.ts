// Task attempts on both dialects: writes conditional on the claiming attempt (a slow attempt that lost its task
// to a retry changes nothing), what a failure tells the owner, and the sweep that repairs stranded tasks.
import { beforeAll, describe, expect, it } from 'vitest';
import { eq, inArray } from 'drizzle-orm';
import { z } from 'zod';
import { captureLogs, dialects, failure, useTestDeps } from '../server/testing/harness.ts';
import { createUser, signedInUser } from '../server/testing/factories.ts';
import { TaskError } from '../server/errors.ts';
import { CARRIED_INPUT_MAX_CHARS, internalFailure, LOST_LAST_ATTEMPT, QUICK_RUN_MS, runTask } from '../server/services/task-runs.ts';
import { sweepTasks } from '../server/services/maintenance.ts';
import type { TextAnalyzer } from '../server/tasks/analyzer.ts';
import type { TextAnalyzeResult } from '../server/tasks/types.ts';
import type { Deps } from '../server/deps.ts';
import { deadLetterQueue, defineJob, type JobContext } from './define.ts';
import { runTaskJob } from './definitions/run-task.ts';

const resultOf = (words: number): TextAnalyzeResult => ({
  characters: words,
  words,
  sentences: 1,
  readingTimeSeconds: 1,
  keywords: [],
  sentiment: { score: 0, label: 'neutral' },
  entities: [],
});

type AnalysisCall = { text: string; signal: AbortSignal | undefined; resolve: (result: unknown) => void; reject: (error: Error) => void };
/** An analyzer each of whose analyses the test settles by hand, in the order it chooses. */
function handSettledAnalyzer(): TextAnalyzer & { calls: AnalysisCall[] } {
  const calls: AnalysisCall[] = [];
  return {
    calls,
    analyze: (text, signal) => new Promise((resolve, reject) => calls.push({ text, signal, resolve: resolve as (result: unknown) => void, reject })),
    close: async () => {},
  };
}

const attempt = (jobId: string, retryCount: number): JobContext => ({ id: jobId, retryCount, retryLimit: 2, signal: new AbortController().signal, expireInSeconds: 600 });

describe.each(dialects)('task attempts on %s', (dialect) => {
  const logs = captureLogs('info');
  const deps = useTestDeps(dialect, { logger: logs.logger });
  // PGlite (beside SQLite) takes its time to start on a busy machine: in the hook, not in the first test.
  beforeAll(() => deps.current.queue.start());

  async function withAnalyzer<T>(analyzer: TextAnalyzer, fn: () => Promise<T>): Promise<T> {
    const original = deps.current.textAnalyzer;
    deps.current.textAnalyzer = analyzer;
    try {
      return await fn();
    } finally {
      deps.current.textAnalyzer = original;
    }
  }

  async function submitted(text = 'some text') {
    const { caller } = await signedInUser(deps.current);
    const { id } = await caller.tasks.submit({ type: 'text.analyze', input: { text } });
    const [job] = await deps.current.queue.find(runTaskJob, { taskId: id });
    return { caller, id, jobId: job.id, carried: runTaskJob.payload.parse(job.data).run };
  }

  const taskRow = async (id: string) => {
    const { tasks } = deps.current.db.tables;
    const [row] = await deps.current.db.orm
      .select({ status: tasks.status, error: tasks.error, result: tasks.result, attempts: tasks.attempts, attempt: tasks.attempt, startedAt: tasks.startedAt, finishedAt: tasks.finishedAt })
      .from(tasks)
      .where(eq(tasks.id, id));
    return row;
  };

  /** The statements that write tasks while `fn` runs. */
  async function taskUpdates(fn: () => Promise<void>): Promise<string[]> {
    const updates: string[] = [];
    const stop = deps.current.db.onQuery((query) => {
      if (/^update "tasks"/i.test(query)) updates.push(query);
    });
    try {
      await fn();
    } finally {
      stop();
    }
    return updates;
  }

  it('a slow attempt that fails after a retry took its task over changes nothing: the retry completes it', async () => {
    const { caller, id, jobId } = await submitted();
    const analyzer = handSettledAnalyzer();
    await withAnalyzer(analyzer, async () => {
      const first = runTask(deps.current, id, attempt(jobId, 0));
      await expect.poll(() => analyzer.calls.length).toBe(1);
      // Its heartbeat lapsed: pg-boss retries the same job while the first attempt still runs.
      const retry = runTask(deps.current, id, attempt(jobId, 1));
      await expect.poll(() => analyzer.calls.length).toBe(2);
      analyzer.calls[0].reject(new TaskError('analysis cancelled'));
      await expect(first).rejects.toThrow('analysis cancelled');
      expect((await caller.tasks.get({ id })).status).toBe('running');
      analyzer.calls[1].resolve(resultOf(7));
      await retry;
    });
    const task = await caller.tasks.get({ id });
    expect({ status: task.status, error: task.error, attempts: task.attempts, words: task.type === 'text.analyze' ? task.result?.words : null }).toEqual({
      status: 'completed',
      error: null,
      attempts: 2,
      words: 7,
    });
  });

  it('a slow attempt that comes back with a result after a retry took its task over writes nothing', async () => {
    const { caller, id, jobId } = await submitted();
    const analyzer = handSettledAnalyzer();
    await withAnalyzer(analyzer, async () => {
      const first = runTask(deps.current, id, attempt(jobId, 0));
      await expect.poll(() => analyzer.calls.length).toBe(1);
      const retry = runTask(deps.current, id, attempt(jobId, 1));
      await expect.poll(() => analyzer.calls.length).toBe(2);
      analyzer.calls[0].resolve(resultOf(1));
      await first;
      expect((await caller.tasks.get({ id })).status).toBe('running');
      analyzer.calls[1].resolve(resultOf(2));
      await retry;
    });
    const task = await caller.tasks.get({ id });
    expect({ status: task.status, words: task.type === 'text.analyze' ? task.result?.words : null }).toEqual({ status: 'completed', words: 2 });
    expect(logs.lines.some((line) => line.msg === 'task attempt superseded by a later attempt; its outcome is dropped' && line.taskId === id)).toBe(true);
  });

  it('an earlier attempt cannot claim a task that a later attempt put back in the queue', async () => {
    const { caller, id, jobId } = await submitted();
    const analyzer = handSettledAnalyzer();
    await withAnalyzer(analyzer, async () => {
      const second = runTask(deps.current, id, attempt(jobId, 1));
      await expect.poll(() => analyzer.calls.length).toBe(1);
      analyzer.calls[0].reject(new TaskError('try again'));
      await expect(second).rejects.toThrow('try again');
      expect((await caller.tasks.get({ id })).status).toBe('queued');
      // The first attempt, frozen before its claim, wakes up: it finds the task is not its own.
      await runTask(deps.current, id, attempt(jobId, 0));
      expect(analyzer.calls).toHaveLength(1);
      const third = runTask(deps.current, id, attempt(jobId, 2));
      await expect.poll(() => analyzer.calls.length).toBe(2);
      analyzer.calls[1].resolve(resultOf(3));
      await third;
    });
    expect(await caller.tasks.get({ id })).toMatchObject({ status: 'completed', attempts: 2 });
  });

  it('attempts run together claim their tasks in one statement and settle in one, each under its own claim', async () => {
    const [done, retried, failed, overlapped] = await Promise.all(['done', 'retried', 'failed', 'overlapped'].map((text) => submitted(text)));
    const analyzer = handSettledAnalyzer();
    const updates: string[] = [];
    const stop = deps.current.db.onQuery((query) => {
      if (/^update "tasks"/i.test(query)) updates.push(query);
    });
    try {
      await withAnalyzer(analyzer, async () => {
        // A fetched batch: four jobs, one of them twice (its first attempt still there when pg-boss retried it).
        const runs = [
          runTask(deps.current, done.id, attempt(done.jobId, 0)),
          runTask(deps.current, retried.id, attempt(retried.jobId, 0)),
          runTask(deps.current, failed.id, attempt(failed.jobId, 2)),
          runTask(deps.current, overlapped.id, attempt(overlapped.jobId, 0)),
          runTask(deps.current, overlapped.id, attempt(overlapped.jobId, 1)),
        ].map((run) => run.then(() => 'ok', (error: Error) => error.message));
        await expect.poll(() => analyzer.calls.length).toBe(4);
        // Only the later attempt of the overlapped job runs it; the earlier one had nothing to claim.
        expect(analyzer.calls.map((call) => call.text).sort()).toEqual(['done', 'failed', 'overlapped', 'retried']);
        expect(await runs[3]).toBe('ok');
        expect(updates).toHaveLength(1);
        const call = (text: string) => analyzer.calls.find((entry) => entry.text === text)!;
        call('done').resolve(resultOf(4));
        call('retried').reject(new TaskError('try again later'));
        call('failed').reject(new TaskError('gave up'));
        call('overlapped').resolve(resultOf(9));
        expect(await Promise.all(runs)).toEqual(['ok', 'try again later', 'gave up', 'ok', 'ok']);
      });
    } finally {
      stop();
    }
    expect(updates).toHaveLength(2);
    const { tasks } = deps.current.db.tables;
    const rows = await deps.current.db.orm
      .select({ id: tasks.id, status: tasks.status, error: tasks.error, result: tasks.result, attempts: tasks.attempts, attempt: tasks.attempt, finishedAt: tasks.finishedAt })
      .from(tasks)
      .where(inArray(tasks.id, [done.id, retried.id, failed.id, overlapped.id]));
    const byId = new Map(rows.map((row) => [row.id, row]));
    expect(byId.get(done.id)).toMatchObject({ status: 'completed', error: null, result: resultOf(4), attempts: 1, attempt: 0, finishedAt: expect.any(Date) });
    // Back in the queue for its retry: not finished.
    expect(byId.get(retried.id)).toMatchObject({ status: 'queued', error: 'try again later', result: null, attempts: 1, finishedAt: null });
    expect(byId.get(failed.id)).toMatchObject({ status: 'failed', error: 'gave up', result: null, attempts: 1, attempt: 2, finishedAt: expect.any(Date) });
    expect(byId.get(overlapped.id)).toMatchObject({ status: 'completed', result: resultOf(9), attempts: 1, attempt: 1 });
  });

  it('jobs carry the input of small tasks only, and one with its input at hand claims and settles its task in one statement', async () => {
    const { caller } = await signedInUser(deps.current);
    const small = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [2, 3] } });
    const large = await caller.tasks.submit({ type: 'text.analyze', input: { text: 'word '.repeat(CARRIED_INPUT_MAX_CHARS) } });
    const [smallJob] = await deps.current.queue.find(runTaskJob, { taskId: small.id });
    const [largeJob] = await deps.current.queue.find(runTaskJob, { taskId: large.id });
    expect(smallJob.data).toEqual({ taskId: small.id, run: { type: 'math.sum', input: { numbers: [2, 3] } } });
    expect(largeJob.data).toEqual({ taskId: large.id });

    // A fetched batch of three, two of them attempts of one job (the first still there when pg-boss retried it).
    const other = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [4] } });
    const [otherJob] = await deps.current.queue.find(runTaskJob, { taskId: other.id });
    const carried = (data: unknown) => runTaskJob.payload.parse(data).run;
    const updates = await taskUpdates(async () => {
      await Promise.all([
        runTask(deps.current, small.id, attempt(smallJob.id, 0), carried(smallJob.data)),
        runTask(deps.current, other.id, attempt(otherJob.id, 0), carried(otherJob.data)),
        runTask(deps.current, other.id, attempt(otherJob.id, 1), carried(otherJob.data)),
      ]);
    });
    expect(updates).toHaveLength(1);
    expect(await taskRow(small.id)).toMatchObject({ status: 'completed', result: { sum: 5, count: 2 }, error: null, attempts: 1, attempt: 0, startedAt: expect.any(Date), finishedAt: expect.any(Date) });
    // Only the later attempt of the overlapped job went in.
    expect(await taskRow(other.id)).toMatchObject({ status: 'completed', result: { sum: 4, count: 1 }, attempts: 1, attempt: 1 });
    const done = await taskRow(small.id);
    expect(done.startedAt!.getTime()).toBeLessThanOrEqual(done.finishedAt!.getTime());
  });

  /** A math.sum task and its job's payload: its run resolves at once, before the QUICK_RUN_MS timer can fire. */
  async function submittedSum(numbers: number[]) {
    const { caller } = await signedInUser(deps.current);
    const { id } = await caller.tasks.submit({ type: 'math.sum', input: { numbers } });
    const [job] = await deps.current.queue.find(runTaskJob, { taskId: id });
    const carried = runTaskJob.payload.parse(job.data).run;
    expect(carried).toEqual({ type: 'math.sum', input: { numbers } });
    return { caller, id, jobId: job.id, carried };
  }

  /** Puts a task in the state a claim leaves it in, as if `jobId`'s attempt `attempt` had claimed it and still ran. */
  async function heldRunning(id: string, jobId: string, attempt: number) {
    const { tasks } = deps.current.db.tables;
    await deps.current.db.orm.update(tasks).set({ status: 'running', jobId, attempt, attempts: 1, startedAt: new Date() }).where(eq(tasks.id, id));
  }

  it('an attempt with its input at hand writes nothing to a task that is not its to claim', async () => {
    // Cancelled before its job ran.
    const cancelled = await submittedSum([1]);
    await cancelled.caller.tasks.cancel({ id: cancelled.id });
    const updates = await taskUpdates(() => runTask(deps.current, cancelled.id, attempt(cancelled.jobId, 0), cancelled.carried));
    expect(updates).toHaveLength(1);
    expect(await taskRow(cancelled.id)).toMatchObject({ status: 'cancelled', attempts: 0, result: null });

    // Completed by a later attempt.
    const done = await submittedSum([2]);
    await runTask(deps.current, done.id, attempt(done.jobId, 1), done.carried);
    await runTask(deps.current, done.id, attempt(done.jobId, 0), done.carried);
    expect(await taskRow(done.id)).toMatchObject({ status: 'completed', attempts: 1, attempt: 1 });

    // Running under a later attempt of its job (which claimed it the ordinary way), or under another job.
    const later = await submittedSum([3]);
    await heldRunning(later.id, later.jobId, 1);
    await runTask(deps.current, later.id, attempt(later.jobId, 0), later.carried);
    expect(await taskRow(later.id)).toMatchObject({ status: 'running', attempts: 1, attempt: 1, result: null });
    const another = await submittedSum([4]);
    await heldRunning(another.id, 'another-job', 0);
    await runTask(deps.current, another.id, attempt(another.jobId, 1), another.carried);
    expect(await taskRow(another.id)).toMatchObject({ status: 'running', attempts: 1, attempt: 0, result: null });
    // Running under an earlier attempt of its job (whose worker died): taken over, straight to its outcome.
    const earlier = await submittedSum([5]);
    await heldRunning(earlier.id, earlier.jobId, 0);
    await runTask(deps.current, earlier.id, attempt(earlier.jobId, 1), earlier.carried);
    expect(await taskRow(earlier.id)).toMatchObject({ status: 'completed', attempts: 2, attempt: 1, result: { sum: 5, count: 1 } });
  });

  it('an attempt with its input at hand that fails puts its task back in the queue under its claim, for the retry', async () => {
    const { id, jobId, carried } = await submitted('fails once');
    const analyses: string[] = [];
    const analyzer = (outcome: 'fail' | 'succeed'): TextAnalyzer => ({
      analyze: (text) => {
        analyses.push(text);
        return outcome === 'fail' ? Promise.reject(new TaskError('try again later')) : Promise.resolve(resultOf(analyses.length));
      },
      close: async () => {},
    });
    await withAnalyzer(analyzer('fail'), () => expect(runTask(deps.current, id, attempt(jobId, 0), carried)).rejects.toThrow('try again later'));
    expect(await taskRow(id)).toMatchObject({ status: 'queued', error: 'try again later', attempts: 1, attempt: 0, finishedAt: null });
    await withAnalyzer(analyzer('succeed'), async () => {
      // The same attempt again (a duplicate) ran it too, and may not claim it; the retry may.
      await runTask(deps.current, id, attempt(jobId, 0), carried);
      expect(await taskRow(id)).toMatchObject({ status: 'queued', attempts: 1, attempt: 0 });
      await runTask(deps.current, id, attempt(jobId, 1), carried);
    });
    expect(analyses).toHaveLength(3);
    expect(await taskRow(id)).toMatchObject({ status: 'completed', error: null, attempts: 2, attempt: 1, result: resultOf(3) });
  });

  it(`an attempt with its input at hand that runs past ${QUICK_RUN_MS} ms claims its task meanwhile; refused its claim, its run is dropped`, async () => {
    const { id, jobId, carried } = await submitted('a longer analysis');
    const analyzer = handSettledAnalyzer();
    await withAnalyzer(analyzer, async () => {
      // A clock a minute further on at each reading: the run's start is its first.
      const original = deps.current.clock;
      const readings: Date[] = [];
      deps.current.clock = { now: () => readings[readings.push(new Date(Date.UTC(2030, 0, 1) + readings.length * 60_000)) - 1] };
      try {
        const run = runTask(deps.current, id, attempt(jobId, 0), carried);
        await expect.poll(() => analyzer.calls.length).toBe(1);
        // Running shows once the run has gone on QUICK_RUN_MS (polled: no bound on how long that takes), since it began.
        await expect.poll(async () => (await taskRow(id)).status, { interval: 5 }).toBe('running');
        analyzer.calls[0].resolve(resultOf(5));
        await run;
      } finally {
        deps.current.clock = original;
      }
      expect(readings.length).toBeGreaterThan(2);
      expect(await taskRow(id)).toMatchObject({ status: 'completed', attempts: 1, attempt: 0, result: resultOf(5), startedAt: readings[0], finishedAt: readings.at(-1) });

      // Cancelled before its job ran: the run starts all the same (nothing tells it), and its claim is refused.
      const refused = await submitted('cancelled before its job ran');
      await refused.caller.tasks.cancel({ id: refused.id });
      const claims: string[] = [];
      const stop = deps.current.db.onQuery((query) => {
        if (/^update "tasks"/i.test(query) && query.includes('claim_task')) claims.push(query);
      });
      try {
        const second = runTask(deps.current, refused.id, attempt(refused.jobId, 0), refused.carried);
        await expect.poll(() => claims.length, { interval: 5 }).toBe(1);
        // Not aborted (that would restart the analysis thread): let finish, and its result dropped.
        expect(analyzer.calls[1].signal?.aborted).toBe(false);
        analyzer.calls[1].resolve(resultOf(6));
        await second;
      } finally {
        stop();
        for (const call of analyzer.calls) call.resolve(resultOf(0));
      }
      expect(claims).toHaveLength(1);
      expect(await taskRow(refused.id)).toMatchObject({ status: 'cancelled', attempts: 0, result: null });
    });
  });

  it('shows the owner a runner’s own message, and only a generic one (logged with the task id) for anything else', async () => {
    const owner = await submitted();
    const secret = 'insert into "tasks" ("id", "input") values ($1, $2) -- params: ["x", {"text": "private"}]';
    await withAnalyzer({ analyze: () => Promise.reject(new Error(secret)), close: async () => {} }, () =>
      expect(runTask(deps.current, owner.id, attempt(owner.jobId, 2))).rejects.toThrow(secret),
    );
    const task = await owner.caller.tasks.get({ id: owner.id });
    expect({ status: task.status, error: task.error }).toEqual({ status: 'failed', error: internalFailure(owner.id) });
    expect(logs.lines.find((line) => line.taskId === owner.id && line.msg === 'task attempt failed with an internal error')).toMatchObject({ err: expect.objectContaining({ message: secret }) });

    const other = await submitted();
    await withAnalyzer({ analyze: () => Promise.reject(new TaskError('analysis took longer than 30 s')), close: async () => {} }, () =>
      expect(runTask(deps.current, other.id, attempt(other.jobId, 2))).rejects.toThrow(),
    );
    expect((await other.caller.tasks.get({ id: other.id })).error).toBe('analysis took longer than 30 s');
  });

  it('refuses a math.sum whose sum overflows at submit, and fails one stored before with a clear message', async () => {
    const { caller, user } = await signedInUser(deps.current);
    const refused = await failure(caller.tasks.submit({ type: 'math.sum', input: { numbers: [1e308, 1e308] } }));
    expect(refused.code).toBe('BAD_REQUEST');
    expect(refused.fieldErrors['input.numbers']).toEqual(['the sum of these numbers is too large (not a finite number)']);
    const { tasks } = deps.current.db.tables;
    const [stored] = await deps.current.db.orm
      .insert(tasks)
      .values({ userId: user.id, type: 'math.sum', input: { numbers: [1e308, 1e308] }, createdAt: new Date() })
      .returning({ id: tasks.id });
    await runTask(deps.current, stored.id, attempt('an-old-job', 0));
    const [row] = await deps.current.db.orm.select({ status: tasks.status, error: tasks.error }).from(tasks).where(eq(tasks.id, stored.id));
    expect(row).toEqual({ status: 'failed', error: 'invalid input for math.sum: the sum of these numbers is too large (not a finite number)' });
  });
});

describe.each(dialects)('the task sweep on %s', (dialect) => {
  const deps = useTestDeps(dialect, { env: { TASK_SWEEP_GRACE_SECONDS: '60' } });
  beforeAll(() => deps.current.queue.start());

  async function insertTask(d: Deps, values: { status: 'queued' | 'running'; ageSeconds: number; jobId?: string; attempt?: number; attempts?: number }) {
    const user = await createUser(d);
    const { tasks } = d.db.tables;
    const [row] = await d.db.orm
      .insert(tasks)
      .values({
        userId: user.id,
        type: 'math.sum',
        input: { numbers: [20, 22] },
        status: values.status,
        jobId: values.jobId ?? null,
        attempt: values.attempt ?? null,
        attempts: values.attempts ?? 0,
        createdAt: new Date(Date.now() - values.ageSeconds * 1000),
      })
      .returning({ id: tasks.id });
    return row.id;
  }

  it('requeues a task left queued with no job, fails one whose attempts are used up, and leaves live and recent ones alone', async () => {
    const d = deps.current;
    const { tasks } = d.db.tables;
    const admin = await signedInUser(d, { role: 'admin' });
    const stranded = await insertTask(d, { status: 'queued', ageSeconds: 3600 });
    const lostRunning = await insertTask(d, { status: 'running', ageSeconds: 3600, jobId: 'a-vanished-job', attempt: 2, attempts: 3 });
    const recent = await insertTask(d, { status: 'queued', ageSeconds: 5 });
    const { id: live } = await admin.caller.tasks.submit({ type: 'math.sum', input: { numbers: [1] } });
    await d.db.orm.update(tasks).set({ createdAt: new Date(Date.now() - 3600_000) }).where(eq(tasks.id, live));

    expect((await admin.caller.admin.stats()).strandedTasks).toBe(2);
    expect(await sweepTasks(d)).toEqual({ requeued: 1, failed: 1 });
    expect((await admin.caller.admin.stats()).strandedTasks).toBe(0);
    expect(await sweepTasks(d)).toEqual({ requeued: 0, failed: 0 });

    const rows = await d.db.orm.select({ id: tasks.id, status: tasks.status, error: tasks.error }).from(tasks).where(inArray(tasks.id, [stranded, lostRunning, recent, live]));
    const byId = Object.fromEntries(rows.map((row) => [row.id, { status: row.status, error: row.error }]));
    expect(byId).toEqual({
      [stranded]: { status: 'queued', error: null },
      [lostRunning]: { status: 'failed', error: LOST_LAST_ATTEMPT },
      [recent]: { status: 'queued', error: null },
      [live]: { status: 'queued', error: null },
    });
    // The requeued task has a job of its own again, and runs.
    const jobs = await d.queue.find(runTaskJob, { taskId: stranded });
    expect(jobs.map((job) => job.state)).toEqual(['created']);
    await runTaskJob.handler(d, { taskId: stranded }, attempt(jobs[0].id, 0));
    const [done] = await d.db.orm.select({ status: tasks.status, result: tasks.result }).from(tasks).where(eq(tasks.id, stranded));
    expect(done).toEqual({ status: 'completed', result: { sum: 42, count: 2 } });

    const metrics = await d.metrics.registry.metrics();
    expect(metrics).toMatch(/^task_sweep_repaired_total\{action="requeued"\} 1$/m);
    expect(metrics).toMatch(/^task_sweep_repaired_total\{action="failed"\} 1$/m);
  });
});

describe.each(dialects)('the task sweep beside a worker on %s', (dialect) => {
  const deps = useTestDeps(dialect, { work: true, env: { TASK_SWEEP_GRACE_SECONDS: '60' } });

  it('fails a task whose dead-letter handling failed too', async () => {
    const d = deps.current;
    const user = await createUser(d);
    const { tasks } = d.db.tables;
    // A job whose payload does not parse goes straight to the dead-letter queue, where it does not parse either.
    const taskId = String(Date.now() * 1000 + Math.floor(Math.random() * 1000));
    await d.db.orm.insert(tasks).values({ id: taskId, userId: user.id, type: 'math.sum', input: { numbers: [1] }, status: 'running', jobId: 'lost', attempt: 0, attempts: 1, createdAt: new Date(Date.now() - 3600_000) });
    await d.queue.send(defineJob({ name: runTaskJob.name, options: runTaskJob.options, payload: z.object({ taskId: z.number() }), handler: async () => {} }), { taskId: Number(taskId) });
    await expect.poll(async () => (await d.queue.find(deadLetterQueue(runTaskJob))).filter((job) => String((job.data as { taskId: unknown }).taskId) === taskId).map((job) => job.state), { interval: 200 }).toEqual(['failed']);
    const [job] = await d.queue.find(runTaskJob, { taskId: Number(taskId) });
    expect({ state: job.state, retryCount: job.retryCount }).toEqual({ state: 'failed', retryCount: 0 });
    expect((await d.queue.jobsFor(runTaskJob, 'taskId', [taskId])).deadLettered).toEqual(new Set([taskId]));
    await sweepTasks(d);
    const [row] = await d.db.orm.select({ status: tasks.status, error: tasks.error }).from(tasks).where(eq(tasks.id, taskId));
    expect(row).toEqual({ status: 'failed', error: LOST_LAST_ATTEMPT });
  });

  it('fails a task whose result does not validate at once, without dead-lettering its job', async () => {
    const d = deps.current;
    const { caller } = await signedInUser(d);
    const original = d.textAnalyzer;
    d.textAnalyzer = { analyze: () => Promise.resolve({ words: 'many' } as unknown as TextAnalyzeResult), close: async () => {} };
    try {
      const { id } = await caller.tasks.submit({ type: 'text.analyze', input: { text: 'whatever' } });
      await expect.poll(async () => (await caller.tasks.get({ id })).status, { interval: 100 }).toBe('failed');
      expect(await caller.tasks.get({ id })).toMatchObject({ error: internalFailure(id), attempts: 1 });
      await expect.poll(async () => (await d.queue.find(runTaskJob, { taskId: id })).map((job) => job.state)).toEqual(['completed']);
      expect((await d.queue.find(deadLetterQueue(runTaskJob))).filter((job) => (job.data as { taskId: unknown }).taskId === id)).toEqual([]);
    } finally {
      d.textAnalyzer = original;
    }
  });
});
