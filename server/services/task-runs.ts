// Running user tasks in a worker: claim, run, record the result or the failure; and the dead-letter case.
import { and, eq, inArray, isNull, lt, ne, or, sql, type SQL } from 'drizzle-orm';
import type { JobContext } from '../../jobs/define.ts';
import type { Deps } from '../deps.ts';
import { AppError, TaskError } from '../errors.ts';
import { runners } from '../tasks/runners.ts';
import { TASK_TYPES, type TaskType } from '../tasks/types.ts';
import { createBatcher, type Batcher } from '../batcher.ts';
import { taskAnnouncement } from './task-changes.ts';

/** What the owner reads when a task failed for a reason that is not theirs to see (logged with the task id). */
export const internalFailure = (taskId: string) => `the task failed because of an internal error (reference: task ${taskId})`;

/**
 * What a failure tells the task's owner: a runner's own message (TaskError, AppError), never a stack and never
 * anything else (a driver's message carries SQL and parameters): that goes to the log.
 */
function messageFor(deps: Deps, taskId: string, job: JobContext, error: unknown): string {
  if (error instanceof TaskError || error instanceof AppError) return error.message.slice(0, 1000);
  deps.logger.error({ err: error, taskId, jobId: job.id, attempt: job.retryCount + 1 }, 'task attempt failed with an internal error');
  return internalFailure(taskId);
}

/** `startedAt`: when the run began, for an attempt that ran before claiming (else the claim's own time). */
type Claim = { taskId: string; jobId: string; attempt: number; startedAt?: Date };
type Claimed = { type: string; input: unknown };
type Outcome = { status: 'completed'; result: unknown } | { status: 'failed'; error: string } | { status: 'queued'; error: string };
type Settlement = { claim: Claim; outcome: Outcome };
/** An attempt that ran before it claimed its task (see runTask): its claim (with when it began) and its outcome go in together. */
type QuickSettlement = Settlement & { claim: { startedAt: Date } };

/** What a job carries of its task, so that an attempt can run it before it claims it (see runTask). */
export type CarriedRun = { type: string; input: unknown };
/**
 * Inputs up to this size (as JSON) travel in their job too (carriedRun); larger ones are read by the claim only,
 * so that a job stays a small row whatever its task holds (text.analyze takes up to 100,000 characters).
 */
export const CARRIED_INPUT_MAX_CHARS = 2048;
/** How long an attempt with its input at hand runs before it claims its task, which then shows as running. */
export const QUICK_RUN_MS = 50;

/** The job's share of a task about to be queued: its input too when it is small. */
export function carriedRun(type: string, input: unknown): CarriedRun | undefined {
  return JSON.stringify(input).length <= CARRIED_INPUT_MAX_CHARS ? { type, input } : undefined;
}

/**
 * The claim and the outcome find their tasks by primary key alone. The ids also go in as a list, so the planner
 * knows how few rows they are, and the status they check goes through an expression no index matches. Otherwise a
 * planner whose statistics predate a burst of submissions (autovacuum analyzes a minute or more later) reads the
 * status index instead, every queued task of the backlog for each batch: 18.7 ms to claim 2 tasks behind 20,000
 * queued ones, against 1.7 ms by key (docs/development.md).
 */
const keyedTasks = (tasks: Deps['db']['tables']['tasks'], ids: Iterable<string>) => ({
  ids: inArray(tasks.id, [...new Set(ids)]),
  status: sql<string>`(${tasks.status} || '')`,
});

/** Whether a row a statement wrote (RETURNING id, job_id, attempt) is this attempt's. */
const wroteFor = (row: { id: string; jobId: string | null; attempt: number | null }, claim: Claim) =>
  row.id === claim.taskId && row.jobId === claim.jobId && row.attempt === claim.attempt;

/**
 * Claims for many job attempts in one statement, each row under the conditions of a claim on its own (see
 * runTask). Of claims for the same task only the latest attempt goes in: run one after the other, it would
 * have taken the task over from the others anyway.
 */
async function claimTasks(deps: Deps, claims: Claim[]): Promise<(Claimed | null)[]> {
  const { tasks } = deps.db.tables;
  const latest = latestClaims(claims.map((claim) => ({ claim }))).map(({ claim }) => claim);
  const now = deps.clock.now();
  const rows = latest.map((claim) => ({ claim_task: claim.taskId, claim_job: claim.jobId, claim_attempt: claim.attempt, claim_started: claim.startedAt ?? now }));
  const job = sql`claim.claim_job`;
  const attempt = sql`claim.claim_attempt`;
  // Claims and outcomes commit lazily (db.lazyCommit): pg-boss acknowledges the attempt afterwards in a synchronous
  // commit, which flushes them too; a crash that loses one loses that acknowledgement as well, and the job's retry
  // claims the task again (a claim lost: still queued; an outcome lost: still running under this attempt).
  const written = await deps.db.orm
    .update(tasks)
    .set({ status: 'running', startedAt: sql`claim.claim_started`, attempts: sql`${tasks.attempts} + 1`, jobId: job, attempt, error: null })
    .from(deps.db.rowsOf('claim', { claim_task: 'text', claim_job: 'text', claim_attempt: 'integer', claim_started: 'timestamp' }, rows))
    .where(and(eq(tasks.id, sql`claim.claim_task`), claimable(tasks, latest.map((claim) => claim.taskId), job, attempt), deps.db.lazyCommit))
    .returning({ id: tasks.id, jobId: tasks.jobId, attempt: tasks.attempt, type: tasks.type, input: tasks.input, announced: taskAnnouncement(deps) });
  return claims.map((claim) => written.find((row) => wroteFor(row, claim)) ?? null);
}

/** Of claims for the same task, the latest attempt's (see claimTasks). */
function latestClaims<T extends { claim: Claim }>(items: T[]): T[] {
  const latest = new Map<string, T>();
  for (const item of items) {
    const seen = latest.get(item.claim.taskId);
    if (!seen || item.claim.attempt > seen.claim.attempt) latest.set(item.claim.taskId, item);
  }
  return [...latest.values()];
}

/**
 * Which of these tasks an attempt (`job`, `attempt`: SQL for its job id and retry count) may claim: a queued one
 * (not already claimed by this attempt or a later one of its job), or one still running under an earlier attempt
 * of the same job.
 */
function claimable(tasks: Deps['db']['tables']['tasks'], ids: Iterable<string>, job: SQL, attempt: SQL): SQL | undefined {
  const keyed = keyedTasks(tasks, ids);
  const earlierAttempt = or(isNull(tasks.attempt), lt(tasks.attempt, attempt));
  return and(
    keyed.ids,
    or(
      and(eq(keyed.status, 'queued'), or(isNull(tasks.jobId), ne(tasks.jobId, job), earlierAttempt)),
      and(eq(keyed.status, 'running'), eq(tasks.jobId, job), earlierAttempt),
    ),
  );
}

/** An outcome as a row of `db.rowsOf('outcome', outcomeColumns, …)`, and what it sets on its task. */
const outcomeColumns = { outcome_task: 'text', outcome_job: 'text', outcome_attempt: 'integer', outcome_status: 'text', outcome_result: 'json', outcome_error: 'text', outcome_finished: 'timestamp' } as const;
const outcomeRow = ({ claim, outcome }: Settlement, now: Date) => ({
  outcome_task: claim.taskId,
  outcome_job: claim.jobId,
  outcome_attempt: claim.attempt,
  outcome_status: outcome.status,
  outcome_result: outcome.status === 'completed' ? outcome.result : null,
  outcome_error: outcome.status === 'completed' ? null : outcome.error,
  // A task going back to the queue for its retry has not finished.
  outcome_finished: outcome.status === 'queued' ? null : now,
});
const outcomeSet = { status: sql`outcome.outcome_status`, result: sql`outcome.outcome_result`, error: sql`outcome.outcome_error`, finishedAt: sql`outcome.outcome_finished` };

/** Outcomes of many attempts in one statement, each written only while its attempt still holds its task's claim. */
async function settleTasks(deps: Deps, settlements: Settlement[]): Promise<boolean[]> {
  const { tasks } = deps.db.tables;
  const now = deps.clock.now();
  const keyed = keyedTasks(tasks, settlements.map(({ claim }) => claim.taskId));
  const written = await deps.db.orm
    .update(tasks)
    .set(outcomeSet)
    .from(deps.db.rowsOf('outcome', outcomeColumns, settlements.map((settlement) => outcomeRow(settlement, now))))
    .where(
      and(
        eq(tasks.id, sql`outcome.outcome_task`),
        keyed.ids,
        eq(tasks.jobId, sql`outcome.outcome_job`),
        eq(tasks.attempt, sql`outcome.outcome_attempt`),
        eq(keyed.status, 'running'),
        deps.db.lazyCommit,
      ),
    )
    .returning({ id: tasks.id, jobId: tasks.jobId, attempt: tasks.attempt, announced: taskAnnouncement(deps) });
  return settlements.map(({ claim }) => written.some((row) => wroteFor(row, claim)));
}

/**
 * Claims and outcomes of attempts that ran before claiming, in one statement: each row written under the
 * conditions of a claim, straight to its outcome (the task never shows as running). Of several for one task only
 * the latest attempt's goes in.
 */
async function claimAndSettleTasks(deps: Deps, items: QuickSettlement[]): Promise<boolean[]> {
  const { tasks } = deps.db.tables;
  const now = deps.clock.now();
  const latest = latestClaims(items);
  const rows = latest.map((item) => ({ ...outcomeRow(item, now), outcome_started: item.claim.startedAt }));
  const job = sql`outcome.outcome_job`;
  const attempt = sql`outcome.outcome_attempt`;
  const written = await deps.db.orm
    .update(tasks)
    .set({ ...outcomeSet, startedAt: sql`outcome.outcome_started`, attempts: sql`${tasks.attempts} + 1`, jobId: job, attempt })
    .from(deps.db.rowsOf('outcome', { ...outcomeColumns, outcome_started: 'timestamp' }, rows))
    .where(and(eq(tasks.id, sql`outcome.outcome_task`), claimable(tasks, latest.map(({ claim }) => claim.taskId), job, attempt), deps.db.lazyCommit))
    .returning({ id: tasks.id, jobId: tasks.jobId, attempt: tasks.attempt, announced: taskAnnouncement(deps) });
  return items.map(({ claim }) => written.some((row) => wroteFor(row, claim)));
}

/**
 * The attempts a worker runs together (a fetched batch) claim their tasks in one statement, and outcomes that come
 * in together are written in one: two statements for a batch of trivial tasks, where each task took two of its own;
 * one, where the attempts ran before claiming (quick).
 */
const batchers = new WeakMap<Deps, { claim: Batcher<Claim, Claimed | null>; settle: Batcher<Settlement, boolean>; quick: Batcher<QuickSettlement, boolean> }>();
function batchersOf(deps: Deps) {
  let found = batchers.get(deps);
  if (!found) {
    found = {
      claim: createBatcher((claims: Claim[]) => claimTasks(deps, claims), { maxSize: 100 }),
      settle: createBatcher((settlements: Settlement[]) => settleTasks(deps, settlements), { maxSize: 100 }),
      quick: createBatcher((settlements: QuickSettlement[]) => claimAndSettleTasks(deps, settlements), { maxSize: 100 }),
    };
    batchers.set(deps, found);
  }
  return found;
}

/** A run's outcome to write, and for a runner that threw, its error: thrown on once the outcome is written, for pg-boss to retry the job. */
type Attempted = { outcome: Outcome; thrown?: { error: unknown } };

/** Runs a task's runner on its input (parsed), and says what to write: never throws. */
async function attemptRun(deps: Deps, taskId: string, job: JobContext, type: TaskType, input: unknown): Promise<Attempted> {
  const definition = TASK_TYPES[type];
  let output: unknown;
  try {
    const run = runners[type] as (deps: Deps, input: unknown, signal: AbortSignal) => Promise<unknown>;
    output = await run(deps, input, job.signal);
  } catch (error) {
    const last = job.retryCount >= job.retryLimit;
    return { outcome: { status: last ? 'failed' : 'queued', error: messageFor(deps, taskId, job, error) }, thrown: { error } };
  }
  // A result that does not match its schema will not on a retry either: the task fails now, and its job
  // completes (it is not a bad payload, and not worth two more runs).
  const result = definition.result.safeParse(output);
  if (!result.success) {
    deps.logger.error({ taskId, jobId: job.id, type, issues: result.error.issues }, 'task produced a result that does not match its schema');
    return { outcome: { status: 'failed', error: internalFailure(taskId) } };
  }
  return { outcome: { status: 'completed', result: result.data } };
}

/** A stored type and input, parsed; else why the task cannot run (it fails). */
function parseRun(type: string, input: unknown): { type: TaskType; input: unknown } | { invalid: string } {
  const definition = TASK_TYPES[type as TaskType];
  if (!definition) return { invalid: `unknown task type ${type}` };
  const parsed = definition.input.safeParse(input);
  if (!parsed.success) {
    const reason = parsed.error.issues[0]?.message;
    return { invalid: `invalid input for ${type}${reason ? `: ${reason}` : ''}` };
  }
  return { type: type as TaskType, input: parsed.data };
}

/**
 * Runs a task for a job attempt. The attempt claims the task: a queued one, or one still `running` under an
 * earlier attempt of the same job (whose worker died or went silent, so pg-boss retried it). The claim
 * records the attempt (job id and retry count), and every later write is conditional on it: an earlier
 * attempt that is only slow, and comes back after a retry took over, changes nothing. Duplicates, and
 * finished or cancelled tasks, are left alone. A failed attempt goes back to queued with its error and is
 * retried; the last one leaves the task failed.
 *
 * A job that carries its task's input (`carried`: small inputs, see carriedRun) runs it before claiming: runners
 * only compute, so a run whose task turns out not to be this attempt's (finished, cancelled, taken over) was only
 * wasted. One done within QUICK_RUN_MS claims its task and writes its outcome in one statement, under the same
 * conditions: a trivial task costs its worker one statement instead of two. A longer one claims meanwhile (the task
 * shows running from then on, started when the run began) and goes on as above; refused its claim, it is let finish
 * (its input is small) and dropped: aborting a text analysis would restart the analysis thread, and every
 * analysis queued behind it. The budget is a timer: a runner that computes on this thread (math.sum) has finished
 * before the timer can fire, however long it took.
 */
export async function runTask(deps: Deps, taskId: string, job: JobContext, carried?: CarriedRun): Promise<void> {
  const batch = batchersOf(deps);
  /** Writes under the claim; a write refused means a later attempt took the task over (this one then changes nothing). */
  const settle = async (claim: Claim, { outcome, thrown }: Attempted): Promise<void> => {
    if (!(await batch.settle.add({ claim, outcome }))) {
      deps.logger.info({ taskId, jobId: job.id, attempt: job.retryCount + 1 }, 'task attempt superseded by a later attempt; its outcome is dropped');
    }
    if (thrown) throw thrown.error;
  };

  // What a job carries was validated at submit, as the stored row was; one that does not parse takes the stored row.
  const quick = carried ? parseRun(carried.type, carried.input) : null;
  if (quick && 'type' in quick) {
    const claim = { taskId, jobId: job.id, attempt: job.retryCount, startedAt: deps.clock.now() };
    const running = attemptRun(deps, taskId, job, quick.type, quick.input);
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([running, new Promise<null>((resolve) => (timer = setTimeout(resolve, QUICK_RUN_MS, null)))]);
    clearTimeout(timer);
    if (done) {
      // Refused: the task was not this attempt's to claim, and nothing was written.
      if ((await batch.quick.add({ claim, outcome: done.outcome })) && done.thrown) throw done.thrown.error;
      return;
    }
    const claimed = await batch.claim.add(claim).catch(async (error: unknown) => {
      await running;
      throw error;
    });
    const attempted = await running;
    if (claimed) await settle(claim, attempted);
    return;
  }

  const claim: Claim = { taskId, jobId: job.id, attempt: job.retryCount };
  const claimed = await batch.claim.add(claim);
  if (!claimed) return;
  const parsed = parseRun(claimed.type, claimed.input);
  if ('invalid' in parsed) return settle(claim, { outcome: { status: 'failed', error: parsed.invalid } });
  return settle(claim, await attemptRun(deps, taskId, job, parsed.type, parsed.input));
}

export const LOST_LAST_ATTEMPT = 'the task did not finish: its last attempt was lost';

/** For a job that ran out of attempts without settling its task (a worker died on the last one). */
export async function failAbandonedTask(deps: Deps, taskId: string): Promise<void> {
  const { tasks } = deps.db.tables;
  await deps.db.orm
    .update(tasks)
    .set({ status: 'failed', error: LOST_LAST_ATTEMPT, finishedAt: deps.clock.now() })
    .where(and(eq(tasks.id, taskId), inArray(tasks.status, ['queued', 'running'])))
    .returning({ announced: taskAnnouncement(deps) });
}
