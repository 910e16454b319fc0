// User tasks on both dialects: submit → queued → running → completed/failed, ownership, cancellation,
// retries and dead letters; and jobs that commit or roll back with the app's transaction.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { callerFor, createTestDeps, dialects, failure, testConfig, useTestDeps } from '../server/testing/harness.ts';
import { createUser, signedInUser, TEST_PASSWORD } from '../server/testing/factories.ts';
import { closeDeps, type Deps } from '../server/deps.ts';
import { createLogger } from '../server/logger.ts';
import { openQueue } from './queue.ts';
import { runTaskJob } from './definitions/run-task.ts';
import { submitTask } from '../server/services/tasks.ts';
import { welcomeEmailJob } from './definitions/welcome-email.ts';
import { deadLetterQueue } from './define.ts';
import { openDatabase } from '../db/index.ts';
import { TaskError } from '../server/errors.ts';

const TEXT = 'Ada Lovelace wrote the first program in 1843. It was brilliant and wonderful! Write to ada@example.com or see https://example.com/ada on 10 December 1815.';

async function waitForStatus(caller: ReturnType<typeof callerFor>, id: string, statuses: string[]) {
  await expect.poll(async () => (await caller.tasks.get({ id })).status, { interval: 100 }).toSatisfy((status: string) => statuses.includes(status));
  return caller.tasks.get({ id });
}

describe.each(dialects)('tasks on %s', (dialect) => {
  const deps = useTestDeps(dialect, { work: true });

  it('analyzes text in a worker and returns a typed result', async () => {
    const { caller, user } = await signedInUser(deps.current);
    const submitted = await caller.tasks.submit({ type: 'text.analyze', input: { text: TEXT } });
    expect(submitted).toEqual({ id: expect.any(String), status: 'queued' });
    const task = await waitForStatus(caller, submitted.id, ['completed', 'failed']);
    expect(task).toMatchObject({ id: submitted.id, userId: user.id, type: 'text.analyze', status: 'completed', error: null, attempts: 1 });
    expect(task.startedAt).toBeInstanceOf(Date);
    expect(task.finishedAt).toBeInstanceOf(Date);
    if (task.type !== 'text.analyze' || !task.result) throw new Error('expected a text.analyze result');
    const { result } = task;
    expect(result.characters).toBe(TEXT.length);
    expect(result.words).toBeGreaterThan(15);
    expect(result.sentences).toBe(3);
    expect(result.readingTimeSeconds).toBeGreaterThan(0);
    expect(result.keywords.length).toBeGreaterThan(3);
    expect(result.keywords[0].score).toBe(1);
    expect(result.sentiment.label).toBe('positive');
    expect(result.entities).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'EMAIL', value: 'ada@example.com' }),
        expect.objectContaining({ type: 'URL', value: 'https://example.com/ada' }),
        expect.objectContaining({ type: 'DATE' }),
      ]),
    );
  });

  it('strips the jobs of a deleted account’s tasks of the input they carried; other accounts’ jobs keep theirs', async () => {
    const mine = await signedInUser(deps.current);
    const other = await signedInUser(deps.current);
    const input = { text: 'A private note: Ada met Charles on Thursday.' };
    const run = { type: 'text.analyze', input };
    const [ours, theirs] = [await mine.caller.tasks.submit({ type: 'text.analyze', input }), await other.caller.tasks.submit({ type: 'text.analyze', input })];
    await waitForStatus(mine.caller, ours.id, ['completed']);
    await waitForStatus(other.caller, theirs.id, ['completed']);
    const jobData = async (taskId: string) => (await deps.current.queue.find(runTaskJob, { taskId })).map((job) => job.data);
    expect(await jobData(ours.id)).toEqual([{ taskId: ours.id, run }]);
    await mine.caller.users.deleteMe({ password: TEST_PASSWORD });
    // The request does not wait for it.
    await expect.poll(() => jobData(ours.id)).toEqual([{ taskId: ours.id }]);
    expect(await jobData(theirs.id)).toEqual([{ taskId: theirs.id, run }]);
  });

  it('stores the analysis of text whose long run is cut at an emoji, and counts words in any script', async () => {
    const { caller } = await signedInUser(deps.current);
    // The run reaches the cut point (256 code points) where the emoji begin: a cut inside one would store a
    // lone surrogate (SQLite) or fail the task (Postgres' jsonb refuses it).
    const url = `https://example.com/${'a'.repeat(235)}${'😀'.repeat(20)}`;
    const text = `${url} Привет, мир! 我喜欢学习中文。`;
    const { id } = await caller.tasks.submit({ type: 'text.analyze', input: { text } });
    const task = await waitForStatus(caller, id, ['completed', 'failed']);
    expect(task).toMatchObject({ status: 'completed', error: null });
    if (task.type !== 'text.analyze' || !task.result) throw new Error('expected a text.analyze result');
    const found = task.result.entities.find((entity) => entity.type === 'URL');
    expect(found?.value.isWellFormed()).toBe(true);
    expect(JSON.stringify(task.result)).not.toMatch(/\\ud[89a-f]/);
    expect(task.result.words).toBeGreaterThanOrEqual(1 + 2 + 3);
  });

  it('runs the trivial math.sum type', async () => {
    const { caller } = await signedInUser(deps.current);
    const { id } = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [1, 2, 3.5] } });
    const task = await waitForStatus(caller, id, ['completed']);
    expect(task.type === 'math.sum' && task.result).toEqual({ sum: 6.5, count: 3 });
  });

  it('refuses unknown types, wrong input shapes and over-long text with field messages', async () => {
    const { caller } = await signedInUser(deps.current);
    const cases: [unknown, string][] = [
      [{ type: 'video.render', input: {} }, 'type'],
      [{ type: 'text.analyze', input: { text: 42 } }, 'input.text'],
      [{ type: 'text.analyze', input: {} }, 'input.text'],
      [{ type: 'text.analyze', input: { text: 'x'.repeat(100_001) } }, 'input.text'],
      [{ type: 'math.sum', input: { numbers: [] } }, 'input.numbers'],
      [{ type: 'math.sum', input: { numbers: ['1'] } }, 'input.numbers.0'],
    ];
    for (const [input, field] of cases) {
      const result = await failure(caller.tasks.submit(input as never));
      expect(result.code).toBe('BAD_REQUEST');
      expect(Object.keys(result.fieldErrors)).toContain(field);
    }
    expect((await caller.tasks.submit({ type: 'text.analyze', input: { text: 'x'.repeat(100_000) } })).status).toBe('queued');
  });

  it('shows a task to its owner and admins only, and lists with filters', async () => {
    const owner = await signedInUser(deps.current);
    const other = await signedInUser(deps.current);
    const admin = await signedInUser(deps.current, { role: 'admin' });
    const { id } = await owner.caller.tasks.submit({ type: 'math.sum', input: { numbers: [1] } });
    await owner.caller.tasks.submit({ type: 'text.analyze', input: { text: 'hello there' } });
    expect((await failure(other.caller.tasks.get({ id }))).code).toBe('NOT_FOUND');
    expect((await failure(other.caller.tasks.cancel({ id }))).code).toBe('NOT_FOUND');
    expect((await admin.caller.tasks.get({ id })).userId).toBe(owner.user.id);
    expect((await failure(owner.caller.tasks.get({ id: 'nope' }))).code).toBe('NOT_FOUND');
    const mine = await owner.caller.tasks.list({});
    expect(mine.total).toBe(2);
    expect(Object.keys(mine.items[0]).sort()).toEqual(['attempts', 'createdAt', 'error', 'finishedAt', 'id', 'startedAt', 'status', 'type', 'userId']);
    expect((await owner.caller.tasks.list({ type: 'math.sum' })).items.map((task) => task.id)).toEqual([id]);
    expect((await other.caller.tasks.list({})).total).toBe(0);
    expect((await admin.caller.tasks.list({ userId: owner.user.id })).total).toBe(2);
    expect((await failure(owner.caller.tasks.list({ userId: other.user.id }))).code).toBe('FORBIDDEN');
    await waitForStatus(owner.caller, id, ['completed']);
    expect((await owner.caller.tasks.list({ status: 'completed', type: 'math.sum' })).total).toBe(1);
    expect((await failure(owner.caller.tasks.list({ limit: 101 }))).fieldErrors).toHaveProperty('limit');
    expect((await failure(owner.caller.tasks.list({ status: 'done' as never }))).fieldErrors).toHaveProperty('status');
    expect((await failure(callerFor(deps.current).tasks.list({}))).code).toBe('UNAUTHORIZED');
  });

  it('cancels only a queued task', async () => {
    const { caller } = await signedInUser(deps.current);
    const { id } = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [2] } });
    const done = await waitForStatus(caller, id, ['completed']);
    expect(await failure(caller.tasks.cancel({ id: done.id }))).toMatchObject({ code: 'CONFLICT', message: 'only a queued task can be cancelled; this one is completed' });
  });
});

describe.each(dialects)('tasks without a worker on %s', (dialect) => {
  const deps = useTestDeps(dialect);

  it('stay queued until cancelled, and a cancelled task’s job changes nothing', async () => {
    const { caller, user } = await signedInUser(deps.current);
    const { id } = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [1, 1] } });
    const cancelled = await caller.tasks.cancel({ id });
    expect(cancelled).toMatchObject({ id, status: 'cancelled', finishedAt: expect.any(Date) });
    // The job is still queued; when it runs, it finds the task cancelled and writes nothing (its input at hand, it
    // may have run it: runners only compute).
    const [job] = await deps.current.queue.find(runTaskJob, { taskId: id });
    await runTaskJob.handler(deps.current, runTaskJob.payload.parse(job.data), { id: job.id, retryCount: 0, retryLimit: 2, signal: new AbortController().signal, expireInSeconds: 600 });
    expect((await caller.tasks.get({ id })).status).toBe('cancelled');
    expect((await failure(caller.tasks.cancel({ id }))).code).toBe('CONFLICT');
    expect(user.id).toBeTruthy();
  });

  it('are run once even when a second job for the same task turns up', async () => {
    const { caller } = await signedInUser(deps.current);
    const { id } = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [4] } });
    const [job] = await deps.current.queue.find(runTaskJob, { taskId: id });
    const context = (jobId: string) => ({ id: jobId, retryCount: 0, retryLimit: 2, signal: new AbortController().signal, expireInSeconds: 600 });
    const payload = runTaskJob.payload.parse(job.data);
    await runTaskJob.handler(deps.current, payload, context(job.id));
    await runTaskJob.handler(deps.current, payload, context('a-duplicate-job'));
    // A job of the sweep's carries the id only: its attempt reads the input with its claim.
    await runTaskJob.handler(deps.current, { taskId: id }, context('a-swept-job'));
    const task = await caller.tasks.get({ id });
    expect({ status: task.status, attempts: task.attempts }).toEqual({ status: 'completed', attempts: 1 });
  });
});

describe.each(dialects)('task submissions arriving together on %s', (dialect) => {
  const deps = useTestDeps(dialect);

  it('share one transaction: one insert and one enqueue for all, each with its own task and job', async () => {
    const { caller, user } = await signedInUser(deps.current);
    const statements: string[] = [];
    const stop = deps.current.db.onQuery((query) => statements.push(query));
    // As the calls of one tRPC batch arrive: in the same turn of the event loop.
    const submitted = await Promise.all(Array.from({ length: 12 }, (_, i) => submitTask(deps.current, user.id, { type: 'math.sum', input: { numbers: [i] } })));
    stop();
    expect(new Set(submitted.map((task) => task.id)).size).toBe(12);
    expect(statements.filter((query) => /^insert into "tasks"/i.test(query))).toHaveLength(1);
    for (const { id } of submitted) {
      expect(await deps.current.queue.find(runTaskJob, { taskId: id })).toHaveLength(1);
      expect((await caller.tasks.get({ id })).status).toBe('queued');
    }
  });

  it('but a submission that cannot be stored fails alone', async () => {
    const { user } = await signedInUser(deps.current);
    const results = await Promise.allSettled([
      submitTask(deps.current, user.id, { type: 'math.sum', input: { numbers: [1] } }),
      submitTask(deps.current, 'no-such-user', { type: 'math.sum', input: { numbers: [2] } }),
      submitTask(deps.current, user.id, { type: 'math.sum', input: { numbers: [3] } }),
    ]);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    for (const result of results) {
      if (result.status === 'fulfilled') expect(await deps.current.queue.find(runTaskJob, { taskId: result.value.id })).toHaveLength(1);
    }
  });
});

describe.each(dialects)('failing tasks on %s', (dialect) => {
  const deps = useTestDeps(dialect, { work: true });

  it('are retried with backoff, then failed with the message (no stack) and dead-lettered; the worker goes on', async () => {
    const { caller } = await signedInUser(deps.current);
    const analyzer = deps.current.textAnalyzer;
    deps.current.textAnalyzer = { analyze: () => Promise.reject(new TaskError('the analysis service is unavailable')), close: analyzer.close };
    try {
      const { id } = await caller.tasks.submit({ type: 'text.analyze', input: { text: 'this will fail' } });
      const task = await waitForStatus(caller, id, ['failed']);
      expect(task).toMatchObject({ status: 'failed', error: 'the analysis service is unavailable', attempts: 3 });
      expect(task.error).not.toMatch(/\n\s+at /);
      await expect.poll(async () => (await deps.current.queue.find(deadLetterQueue(runTaskJob))).some((job) => (job.data as { taskId: string }).taskId === id)).toBe(true);
    } finally {
      deps.current.textAnalyzer = analyzer;
    }
    const { id } = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [5] } });
    expect((await waitForStatus(caller, id, ['completed'])).status).toBe('completed');
  });

  it('whose last attempt was lost are failed by the dead-letter handler', async () => {
    const user = await createUser(deps.current);
    const { tasks } = deps.current.db.tables;
    const [task] = await deps.current.db.orm
      .insert(tasks)
      .values({ userId: user.id, type: 'math.sum', input: { numbers: [1] }, status: 'running', createdAt: new Date(), jobId: 'lost-job' })
      .returning({ id: tasks.id });
    await runTaskJob.onDeadLetter!(deps.current, { taskId: task.id }, { id: 'dead-copy' });
    const [row] = await deps.current.db.orm.select({ status: tasks.status, error: tasks.error }).from(tasks).where(eq(tasks.id, task.id));
    expect(row).toEqual({ status: 'failed', error: 'the task did not finish: its last attempt was lost' });
  });
});

describe.each(dialects)('jobs in the app transaction on %s', (dialect) => {
  const deps = useTestDeps(dialect);

  async function jobsFor(d: Deps, userId: string) {
    return d.queue.find(welcomeEmailJob, { userId });
  }

  it('exist exactly once after a commit, and not at all after a rollback', async () => {
    const expected = dialect === 'postgres' ? 'in the same transaction' : 'through the job outbox';
    expect({ shares: deps.current.queue.sharesAppDatabase, expected }).toEqual({ shares: dialect === 'postgres', expected });
    const { users } = deps.current.db.tables;
    const committed = crypto.randomUUID();
    await deps.current.queue.transaction(async (tx, enqueue) => {
      await tx.insert(users).values({ id: committed, username: `tx_${committed.slice(0, 8)}`, email: `${committed}@example.com`, passwordHash: 'x' });
      await enqueue(welcomeEmailJob, { userId: committed });
    });
    expect(await jobsFor(deps.current, committed)).toHaveLength(1);

    const rolledBack = crypto.randomUUID();
    await expect(
      deps.current.queue.transaction(async (tx, enqueue) => {
        await tx.insert(users).values({ id: rolledBack, username: `tx_${rolledBack.slice(0, 8)}`, email: `${rolledBack}@example.com`, passwordHash: 'x' });
        await enqueue(welcomeEmailJob, { userId: rolledBack });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await jobsFor(deps.current, rolledBack)).toHaveLength(0);
    expect(await deps.current.db.orm.select().from(users).where(eq(users.id, rolledBack))).toEqual([]);
  });

  it('refuse a job that is not registered, and validate payloads', async () => {
    await expect(deps.current.queue.send({ ...welcomeEmailJob, name: 'not.registered' }, { userId: 'x' })).rejects.toThrow(/not registered/);
    await expect(deps.current.queue.send(welcomeEmailJob, { userId: 42 } as never)).rejects.toThrow();
  });
});

describe('the job queue at start', () => {
  it('refuses concurrency settings for a queue that does not exist', async () => {
    const db = await openDatabase({ url: ':memory:' });
    try {
      expect(() => openQueue({ config: testConfig({ WORKER_QUEUE_CONCURRENCY: 'tasks.run=2,videos.render=1' }), logger: createLogger({ level: 'silent' }), db, worker: true })).toThrow(
        /unknown queue "videos.render"/,
      );
    } finally {
      await db.close();
    }
  });

  it('keeps jobs in PGlite on disk across a restart (the embedded default)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'queue-'));
    const config = testConfig({ QUEUE_DATABASE_URL: `file:${dir}` });
    const logger = createLogger({ level: 'silent' });
    const db = await openDatabase({ url: ':memory:' });
    try {
      const first = openQueue({ config, logger, db, worker: false });
      const id = await first.send(welcomeEmailJob, { userId: 'survivor' });
      await first.stop(1000);
      const second = openQueue({ config, logger, db, worker: false });
      const jobs = await second.find(welcomeEmailJob, { userId: 'survivor' });
      expect(jobs.map((job) => ({ id: job.id, state: job.state }))).toEqual([{ id, state: 'created' }]);
      await second.stop(1000);
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.each(dialects)('admin.stats on %s', (dialect) => {
  it('counts users, sessions, posts, tasks by status and queue depths', async () => {
    const deps = await createTestDeps(dialect);
    try {
      const admin = await signedInUser(deps, { role: 'admin' });
      await createUser(deps, { isActive: false });
      await admin.caller.posts.create({ title: 'counted', body: 'b', published: true });
      await admin.caller.posts.create({ title: 'draft', body: 'b' });
      await admin.caller.tasks.submit({ type: 'math.sum', input: { numbers: [1] } });
      const stats = await admin.caller.admin.stats();
      expect(stats).toEqual({
        users: { total: 2, active: 1 },
        activeSessions: 1,
        posts: { total: 2, published: 1 },
        tasks: { queued: 1, running: 0, completed: 0, failed: 0, cancelled: 0 },
        queues: expect.objectContaining({ 'tasks.run': { queued: 1, active: 0, failed: 0, failedLast24h: 0 }, 'tasks.run.dead': { queued: 0, active: 0, failed: 0, failedLast24h: 0 } }),
        strandedTasks: 0,
        outbox: { pending: 0, oldestAgeSeconds: null },
      });
      const user = await signedInUser(deps);
      expect((await failure(user.caller.admin.stats())).code).toBe('FORBIDDEN');
    } finally {
      await closeDeps(deps);
    }
  });
});
