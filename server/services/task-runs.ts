// Running user tasks in a worker: claim, run, record the result or the failure; and the dead-letter case.
import { and, eq, inArray, isNull, lt, ne, or, sql } from 'drizzle-orm';
import type { JobContext } from '../../jobs/define.ts';
import type { Deps } from '../deps.ts';
import { AppError, TaskError } from '../errors.ts';
import { runners } from '../tasks/runners.ts';
import { TASK_TYPES, type TaskType } from '../tasks/types.ts';
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

/**
 * Runs a task for a job attempt. The attempt claims the task: a queued one, or one still `running` under an
 * earlier attempt of the same job (whose worker died or went silent, so pg-boss retried it). The claim
 * records the attempt (job id and retry count), and every later write is conditional on it: an earlier
 * attempt that is only slow, and comes back after a retry took over, changes nothing. Duplicates, and
 * finished or cancelled tasks, are left alone. A failed attempt goes back to queued with its error and is
 * retried; the last one leaves the task failed.
 */
export async function runTask(deps: Deps, taskId: string, job: JobContext): Promise<void> {
  const { tasks } = deps.db.tables;
  const earlierAttempt = or(isNull(tasks.attempt), lt(tasks.attempt, job.retryCount));
  // Claims and outcomes commit lazily (db.lazyCommit): pg-boss acknowledges the attempt afterwards in a synchronous
  // commit, which flushes them too; a crash that loses one loses that acknowledgement as well, and the job's retry
  // claims the task again (a claim lost: still queued; an outcome lost: still running under this attempt).
  const [claimed] = await deps.db.lazyCommit((db) =>
    db
      .update(tasks)
      .set({ status: 'running', startedAt: deps.clock.now(), attempts: sql`${tasks.attempts} + 1`, jobId: job.id, attempt: job.retryCount, error: null })
      .where(
        and(
          eq(tasks.id, taskId),
          or(
            and(eq(tasks.status, 'queued'), or(isNull(tasks.jobId), ne(tasks.jobId, job.id), earlierAttempt)),
            and(eq(tasks.status, 'running'), eq(tasks.jobId, job.id), earlierAttempt),
          ),
        ),
      )
      .returning({ type: tasks.type, input: tasks.input, announced: taskAnnouncement(deps) }),
  );
  if (!claimed) return;
  const mine = and(eq(tasks.id, taskId), eq(tasks.jobId, job.id), eq(tasks.attempt, job.retryCount), eq(tasks.status, 'running'));
  /** Writes under the claim; false when a later attempt took the task over (this one then changes nothing). */
  const settle = async (values: Partial<typeof tasks.$inferInsert>): Promise<boolean> => {
    const written = await deps.db.lazyCommit((db) => db.update(tasks).set(values).where(mine).returning({ id: tasks.id, announced: taskAnnouncement(deps) }));
    if (written.length === 0) deps.logger.info({ taskId, jobId: job.id, attempt: job.retryCount + 1 }, 'task attempt superseded by a later attempt; its outcome is dropped');
    return written.length > 0;
  };

  const type = claimed.type as TaskType;
  const definition = TASK_TYPES[type];
  const input = definition?.input.safeParse(claimed.input);
  if (!definition || !input?.success) {
    const reason = input?.error?.issues[0]?.message;
    await settle({ status: 'failed', error: definition ? `invalid input for ${claimed.type}${reason ? `: ${reason}` : ''}` : `unknown task type ${claimed.type}`, finishedAt: deps.clock.now() });
    return;
  }
  let output: unknown;
  try {
    const run = runners[type] as (deps: Deps, input: unknown, signal: AbortSignal) => Promise<unknown>;
    output = await run(deps, input.data, job.signal);
  } catch (error) {
    const last = job.retryCount >= job.retryLimit;
    const message = messageFor(deps, taskId, job, error);
    await settle(last ? { status: 'failed', error: message, finishedAt: deps.clock.now() } : { status: 'queued', error: message });
    throw error;
  }
  // A result that does not match its schema will not on a retry either: the task fails now, and its job
  // completes (it is not a bad payload, and not worth two more runs).
  const result = definition.result.safeParse(output);
  if (!result.success) {
    deps.logger.error({ taskId, jobId: job.id, type, issues: result.error.issues }, 'task produced a result that does not match its schema');
    await settle({ status: 'failed', error: internalFailure(taskId), finishedAt: deps.clock.now() });
    return;
  }
  await settle({ status: 'completed', result: result.data, finishedAt: deps.clock.now() });
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
