// Running user tasks in a worker: claim, run, record the result or the failure; and the dead-letter case.
import { and, eq, inArray, or, sql } from 'drizzle-orm';
import type { JobContext } from '../../jobs/define.ts';
import type { Deps } from '../deps.ts';
import { runners } from '../tasks/runners.ts';
import { TASK_TYPES, type TaskType } from '../tasks/types.ts';

/** What a failure tells the user: the message, never a stack. */
const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, 1000);

/**
 * Runs a task for a job attempt. Idempotent: the attempt claims the task (queued, or running under this very
 * job after a crashed attempt), so duplicates and finished or cancelled tasks are left alone. A failed attempt
 * goes back to queued with its error and is retried; the last one leaves the task failed.
 */
export async function runTask(deps: Deps, taskId: string, job: JobContext): Promise<void> {
  const { tasks } = deps.db.tables;
  const [claimed] = await deps.db.orm
    .update(tasks)
    .set({ status: 'running', startedAt: deps.clock.now(), attempts: sql`${tasks.attempts} + 1`, jobId: job.id, error: null })
    .where(and(eq(tasks.id, taskId), or(eq(tasks.status, 'queued'), and(eq(tasks.status, 'running'), eq(tasks.jobId, job.id)))))
    .returning({ type: tasks.type, input: tasks.input });
  if (!claimed) return;
  const mine = and(eq(tasks.id, taskId), eq(tasks.jobId, job.id), eq(tasks.status, 'running'));
  const type = claimed.type as TaskType;
  const definition = TASK_TYPES[type];
  const input = definition?.input.safeParse(claimed.input);
  if (!definition || !input?.success) {
    await deps.db.orm.update(tasks).set({ status: 'failed', error: `unknown task type or invalid input for ${claimed.type}`, finishedAt: deps.clock.now() }).where(mine);
    return;
  }
  try {
    const run = runners[type] as (deps: Deps, input: unknown, signal: AbortSignal) => Promise<unknown>;
    const result = definition.result.parse(await run(deps, input.data, job.signal));
    await deps.db.orm.update(tasks).set({ status: 'completed', result, finishedAt: deps.clock.now() }).where(mine);
  } catch (error) {
    const last = job.retryCount >= job.retryLimit;
    await deps.db.orm
      .update(tasks)
      .set(last ? { status: 'failed', error: messageOf(error), finishedAt: deps.clock.now() } : { status: 'queued', error: messageOf(error) })
      .where(mine);
    throw error;
  }
}

/** For a job that ran out of attempts without settling its task (a worker died on the last one). */
export async function failAbandonedTask(deps: Deps, taskId: string): Promise<void> {
  const { tasks } = deps.db.tables;
  await deps.db.orm
    .update(tasks)
    .set({ status: 'failed', error: 'the task did not finish: its last attempt was lost', finishedAt: deps.clock.now() })
    .where(and(eq(tasks.id, taskId), inArray(tasks.status, ['queued', 'running'])));
}
