// How a change to a task row is announced (by the statement that makes it) and read back by listeners.
import { sql, type SQL } from 'drizzle-orm';
import { TASK_STATUSES, type TaskStatus } from '../../db/index.ts';
import type { Deps } from '../deps.ts';

/** The notification channel every task write announces on. */
export const TASK_CHANNEL = 'task_changes';

/** What a notification carries: enough to route it to subscribers; they read the row itself. */
export type TaskChange = { id: string; userId: string; status: TaskStatus };

/**
 * For a write's RETURNING list (`announced: taskAnnouncement(deps)`): the row's id, owner and new status,
 * announced when the write commits. Ids are UUIDs and statuses single words: a space separates them.
 */
export function taskAnnouncement(deps: Deps): SQL {
  const { tasks } = deps.db.tables;
  return deps.db.announce(TASK_CHANNEL, sql`${tasks.id} || ' ' || ${tasks.userId} || ' ' || ${tasks.status}`);
}

const statuses = new Set<string>(TASK_STATUSES);

/** A payload back into a change; null for anything else (a foreign NOTIFY on the channel). */
export function parseTaskChange(payload: string): TaskChange | null {
  const [id, userId, status, extra] = payload.split(' ');
  if (extra !== undefined || !id || !userId || !statuses.has(status)) return null;
  return { id, userId, status: status as TaskStatus };
}
