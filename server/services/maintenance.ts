// Scheduled upkeep: the clean-up (expired sessions, reset tokens and idempotency keys, finished tasks past their retention), and
// the sweep that repairs tasks no job will ever settle.
import { and, asc, eq, inArray, isNull, lt, or } from 'drizzle-orm';
import { runTaskJob } from '../../jobs/definitions/run-task.ts';
import { FINISHED_JOBS_KEPT_DAYS } from '../../jobs/define.ts';
import type { Deps } from '../deps.ts';
import { deleteExpiredIdempotencyKeys } from './idempotency.ts';
import { taskAnnouncement } from './task-changes.ts';
import { forgetTaskJobs } from './tasks.ts';
import { LOST_LAST_ATTEMPT } from './task-runs.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

export async function cleanUp(deps: Deps): Promise<{ sessions: number; resetTokens: number; tasks: number; idempotencyKeys: number }> {
  const { sessions, passwordResetTokens, tasks } = deps.db.tables;
  const now = deps.clock.now();
  const taskCutoff = new Date(now.getTime() - deps.config.TASK_RETENTION_DAYS * DAY_MS);
  const [expiredSessions, expiredTokens, oldTasks, expiredKeys] = await Promise.all([
    deps.db.orm.delete(sessions).where(or(lt(sessions.expiresAt, now), lt(sessions.absoluteExpiresAt, now))).returning({ id: sessions.id }),
    deps.db.orm.delete(passwordResetTokens).where(lt(passwordResetTokens.expiresAt, now)).returning({ id: passwordResetTokens.id }),
    deps.db.orm
      .delete(tasks)
      .where(and(inArray(tasks.status, ['completed', 'failed', 'cancelled']), lt(tasks.finishedAt, taskCutoff)))
      .returning({ id: tasks.id }),
    deleteExpiredIdempotencyKeys(deps),
  ]);
  // Kept for less time than pg-boss keeps finished jobs, a task can go before its job.
  if (deps.config.TASK_RETENTION_DAYS < FINISHED_JOBS_KEPT_DAYS) await forgetTaskJobs(deps, oldTasks.map((task) => task.id));
  return { sessions: expiredSessions.length, resetTokens: expiredTokens.length, tasks: oldTasks.length, idempotencyKeys: expiredKeys };
}

/** At most this many tasks are looked at per sweep (the oldest first); the next sweep takes the rest. */
const SWEEP_BATCH = 500;

export type StrandedTask = { id: string; status: 'queued' | 'running'; jobId: string | null; attempt: number | null; attempts: number; deadLettered: boolean };

/**
 * Tasks `queued` or `running` for longer than TASK_SWEEP_GRACE_SECONDS that no live job will ever settle: their
 * job completed or failed while an attempt that had lost it wrote last, or their dead-letter handling failed.
 * The grace covers a job sent right after its task's commit (when jobs live in another database).
 */
export async function findStrandedTasks(deps: Deps): Promise<StrandedTask[]> {
  const { tasks } = deps.db.tables;
  const cutoff = new Date(deps.clock.now().getTime() - deps.config.TASK_SWEEP_GRACE_SECONDS * 1000);
  const candidates = await deps.db.orm
    .select({ id: tasks.id, status: tasks.status, jobId: tasks.jobId, attempt: tasks.attempt, attempts: tasks.attempts })
    .from(tasks)
    .where(and(inArray(tasks.status, ['queued', 'running']), lt(tasks.createdAt, cutoff)))
    .orderBy(asc(tasks.createdAt))
    .limit(SWEEP_BATCH);
  if (candidates.length === 0) return [];
  const { live, deadLettered } = await deps.queue.jobsFor(runTaskJob, 'taskId', candidates.map((task) => task.id));
  return candidates
    .filter((task) => !live.has(task.id))
    .map((task) => ({ ...task, status: task.status as 'queued' | 'running', deadLettered: deadLettered.has(task.id) }));
}

/**
 * Repairs stranded tasks. One that used all its attempts (or was dead-lettered) is failed, as the dead-letter
 * handler would have; any other goes back to `queued` with a new job, in one transaction. Each write is
 * conditional on the task being as the sweep saw it, so a task that moved meanwhile is left alone.
 */
export async function sweepTasks(deps: Deps): Promise<{ requeued: number; failed: number }> {
  const { tasks } = deps.db.tables;
  const stranded = await findStrandedTasks(deps);
  const attemptsPerJob = runTaskJob.options.retryLimit + 1;
  let requeued = 0;
  let failed = 0;
  for (const task of stranded) {
    const unchanged = and(
      eq(tasks.id, task.id),
      eq(tasks.status, task.status),
      task.jobId === null ? isNull(tasks.jobId) : eq(tasks.jobId, task.jobId),
      task.attempt === null ? isNull(tasks.attempt) : eq(tasks.attempt, task.attempt),
    );
    if (task.deadLettered || task.attempts >= attemptsPerJob) {
      const done = await deps.db.orm.update(tasks).set({ status: 'failed', error: LOST_LAST_ATTEMPT, finishedAt: deps.clock.now() }).where(unchanged).returning({ id: tasks.id, announced: taskAnnouncement(deps) });
      failed += done.length;
      continue;
    }
    const again = await deps.queue.transaction(async (tx, enqueue) => {
      const rows = await tx.update(tasks).set({ status: 'queued', jobId: null, attempt: null }).where(unchanged).returning({ id: tasks.id, announced: taskAnnouncement(deps) });
      if (rows.length > 0) await enqueue(runTaskJob, { taskId: task.id });
      return rows.length;
    });
    requeued += again;
  }
  if (requeued + failed > 0) deps.logger.warn({ requeued, failed, taskIds: stranded.map((task) => task.id).slice(0, 50) }, 'task sweep repaired stranded tasks');
  deps.metrics.observeTaskSweep(requeued, failed);
  return { requeued, failed };
}
