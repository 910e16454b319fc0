// Running user tasks in a worker: claim, run, record the result or the failure; and the dead-letter case.
import { and, eq, inArray, isNull, lt, ne, or, sql } from 'drizzle-orm';
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

type Claim = { taskId: string; jobId: string; attempt: number };
type Claimed = { type: string; input: unknown };
type Outcome = { status: 'completed'; result: unknown } | { status: 'failed'; error: string } | { status: 'queued'; error: string };
type Settlement = { claim: Claim; outcome: Outcome };

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
  const latest = new Map<string, Claim>();
  for (const claim of claims) {
    const seen = latest.get(claim.taskId);
    if (!seen || claim.attempt > seen.attempt) latest.set(claim.taskId, claim);
  }
  const rows = [...latest.values()].map((claim) => ({ claim_task: claim.taskId, claim_job: claim.jobId, claim_attempt: claim.attempt }));
  const job = sql`claim.claim_job`;
  const attempt = sql`claim.claim_attempt`;
  const earlierAttempt = or(isNull(tasks.attempt), lt(tasks.attempt, attempt));
  const keyed = keyedTasks(tasks, latest.keys());
  // Claims and outcomes commit lazily (db.lazyCommit): pg-boss acknowledges the attempt afterwards in a synchronous
  // commit, which flushes them too; a crash that loses one loses that acknowledgement as well, and the job's retry
  // claims the task again (a claim lost: still queued; an outcome lost: still running under this attempt).
  const written = await deps.db.orm
    .update(tasks)
    .set({ status: 'running', startedAt: deps.clock.now(), attempts: sql`${tasks.attempts} + 1`, jobId: job, attempt, error: null })
    .from(deps.db.rowsOf('claim', { claim_task: 'text', claim_job: 'text', claim_attempt: 'integer' }, rows))
    .where(
      and(
        eq(tasks.id, sql`claim.claim_task`),
        keyed.ids,
        or(
          and(eq(keyed.status, 'queued'), or(isNull(tasks.jobId), ne(tasks.jobId, job), earlierAttempt)),
          and(eq(keyed.status, 'running'), eq(tasks.jobId, job), earlierAttempt),
        ),
        deps.db.lazyCommit,
      ),
    )
    .returning({ id: tasks.id, jobId: tasks.jobId, attempt: tasks.attempt, type: tasks.type, input: tasks.input, announced: taskAnnouncement(deps) });
  return claims.map((claim) => written.find((row) => wroteFor(row, claim)) ?? null);
}

/** Outcomes of many attempts in one statement, each written only while its attempt still holds its task's claim. */
async function settleTasks(deps: Deps, settlements: Settlement[]): Promise<boolean[]> {
  const { tasks } = deps.db.tables;
  const now = deps.clock.now();
  const rows = settlements.map(({ claim, outcome }) => ({
    outcome_task: claim.taskId,
    outcome_job: claim.jobId,
    outcome_attempt: claim.attempt,
    outcome_status: outcome.status,
    outcome_result: outcome.status === 'completed' ? outcome.result : null,
    outcome_error: outcome.status === 'completed' ? null : outcome.error,
    // A task going back to the queue for its retry has not finished.
    outcome_finished: outcome.status === 'queued' ? null : now,
  }));
  const keyed = keyedTasks(tasks, settlements.map(({ claim }) => claim.taskId));
  const columns = { outcome_task: 'text', outcome_job: 'text', outcome_attempt: 'integer', outcome_status: 'text', outcome_result: 'json', outcome_error: 'text', outcome_finished: 'timestamp' } as const;
  const written = await deps.db.orm
    .update(tasks)
    .set({ status: sql`outcome.outcome_status`, result: sql`outcome.outcome_result`, error: sql`outcome.outcome_error`, finishedAt: sql`outcome.outcome_finished` })
    .from(deps.db.rowsOf('outcome', columns, rows))
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
 * The attempts a worker runs together (a fetched batch) claim their tasks in one statement, and outcomes that come
 * in together are written in one: two statements for a batch of trivial tasks, where each task took two of its own.
 */
const batchers = new WeakMap<Deps, { claim: Batcher<Claim, Claimed | null>; settle: Batcher<Settlement, boolean> }>();
function batchersOf(deps: Deps) {
  let found = batchers.get(deps);
  if (!found) {
    found = {
      claim: createBatcher((claims: Claim[]) => claimTasks(deps, claims), { maxSize: 100 }),
      settle: createBatcher((settlements: Settlement[]) => settleTasks(deps, settlements), { maxSize: 100 }),
    };
    batchers.set(deps, found);
  }
  return found;
}

/**
 * Runs a task for a job attempt. The attempt claims the task: a queued one, or one still `running` under an
 * earlier attempt of the same job (whose worker died or went silent, so pg-boss retried it). The claim
 * records the attempt (job id and retry count), and every later write is conditional on it: an earlier
 * attempt that is only slow, and comes back after a retry took over, changes nothing. Duplicates, and
 * finished or cancelled tasks, are left alone. A failed attempt goes back to queued with its error and is
 * retried; the last one leaves the task failed.
 */
export async function runTask(deps: Deps, taskId: string, job: JobContext): Promise<void> {
  const batch = batchersOf(deps);
  const claim: Claim = { taskId, jobId: job.id, attempt: job.retryCount };
  const claimed = await batch.claim.add(claim);
  if (!claimed) return;
  /** Writes under the claim; false when a later attempt took the task over (this one then changes nothing). */
  const settle = async (outcome: Outcome): Promise<boolean> => {
    const written = await batch.settle.add({ claim, outcome });
    if (!written) deps.logger.info({ taskId, jobId: job.id, attempt: job.retryCount + 1 }, 'task attempt superseded by a later attempt; its outcome is dropped');
    return written;
  };

  const type = claimed.type as TaskType;
  const definition = TASK_TYPES[type];
  const input = definition?.input.safeParse(claimed.input);
  if (!definition || !input?.success) {
    const reason = input?.error?.issues[0]?.message;
    await settle({ status: 'failed', error: definition ? `invalid input for ${claimed.type}${reason ? `: ${reason}` : ''}` : `unknown task type ${claimed.type}` });
    return;
  }
  let output: unknown;
  try {
    const run = runners[type] as (deps: Deps, input: unknown, signal: AbortSignal) => Promise<unknown>;
    output = await run(deps, input.data, job.signal);
  } catch (error) {
    const last = job.retryCount >= job.retryLimit;
    const message = messageFor(deps, taskId, job, error);
    await settle({ status: last ? 'failed' : 'queued', error: message });
    throw error;
  }
  // A result that does not match its schema will not on a retry either: the task fails now, and its job
  // completes (it is not a bad payload, and not worth two more runs).
  const result = definition.result.safeParse(output);
  if (!result.success) {
    deps.logger.error({ taskId, jobId: job.id, type, issues: result.error.issues }, 'task produced a result that does not match its schema');
    await settle({ status: 'failed', error: internalFailure(taskId) });
    return;
  }
  await settle({ status: 'completed', result: result.data });
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
