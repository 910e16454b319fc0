// Scheduled clean-up: expired sessions and reset tokens, and finished tasks past their retention.
import { and, inArray, lt, or } from 'drizzle-orm';
import type { Deps } from '../deps.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

export async function cleanUp(deps: Deps): Promise<{ sessions: number; resetTokens: number; tasks: number }> {
  const { sessions, passwordResetTokens, tasks } = deps.db.tables;
  const now = deps.clock.now();
  const taskCutoff = new Date(now.getTime() - deps.config.TASK_RETENTION_DAYS * DAY_MS);
  const [expiredSessions, expiredTokens, oldTasks] = await Promise.all([
    deps.db.orm.delete(sessions).where(or(lt(sessions.expiresAt, now), lt(sessions.absoluteExpiresAt, now))).returning({ id: sessions.id }),
    deps.db.orm.delete(passwordResetTokens).where(lt(passwordResetTokens.expiresAt, now)).returning({ id: passwordResetTokens.id }),
    deps.db.orm
      .delete(tasks)
      .where(and(inArray(tasks.status, ['completed', 'failed', 'cancelled']), lt(tasks.finishedAt, taskCutoff)))
      .returning({ id: tasks.id }),
  ]);
  return { sessions: expiredSessions.length, resetTokens: expiredTokens.length, tasks: oldTasks.length };
}
