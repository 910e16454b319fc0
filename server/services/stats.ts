// admin.stats: the numbers an internal dashboard shows, each from one aggregate query.
import { count, eq, gt, sql } from 'drizzle-orm';
import { TASK_STATUSES, type TaskStatus } from '../../db/index.ts';
import type { OutboxStats } from '../../jobs/outbox.ts';
import type { QueueDepth } from '../../jobs/queue.ts';
import type { Deps } from '../deps.ts';
import { findStrandedTasks } from './maintenance.ts';

export type Stats = {
  users: { total: number; active: number };
  activeSessions: number;
  posts: { total: number; published: number };
  tasks: Record<TaskStatus, number>;
  queues: Record<string, QueueDepth>;
  /** Tasks queued or running with no live job, past the sweep's grace: what the next sweep will repair. */
  strandedTasks: number;
  outbox: OutboxStats;
};

export async function getStats(deps: Deps): Promise<Stats> {
  const { orm, tables } = deps.db;
  const { users, sessions, posts, tasks } = tables;
  const now = deps.clock.now();
  const [[userCounts], [sessionCounts], [postCounts], taskCounts, queues, stranded, outbox] = await Promise.all([
    orm.select({ total: count(), active: sql<number>`count(*) filter (where ${users.isActive})`.mapWith(Number) }).from(users),
    orm.select({ active: count() }).from(sessions).where(gt(sessions.expiresAt, now)),
    orm.select({ total: count(), published: sql<number>`count(*) filter (where ${eq(posts.published, true)})`.mapWith(Number) }).from(posts),
    orm.select({ status: tasks.status, n: count() }).from(tasks).groupBy(tasks.status),
    deps.queue.depths(),
    findStrandedTasks(deps),
    deps.queue.outbox(),
  ]);
  const byStatus = Object.fromEntries(TASK_STATUSES.map((status) => [status, 0])) as Record<TaskStatus, number>;
  for (const { status, n } of taskCounts) byStatus[status] = n;
  return {
    users: { total: userCounts.total, active: userCounts.active },
    activeSessions: sessionCounts.active,
    posts: { total: postCounts.total, published: postCounts.published },
    tasks: byStatus,
    queues,
    strandedTasks: stranded.length,
    outbox,
  };
}
