// admin.stats: the numbers an internal dashboard shows, each from one aggregate query.
import { count, gt } from 'drizzle-orm';
import type { TaskStatus } from '../../db/index.ts';
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

/**
 * Never counts a large table while the caller waits: row counts come from db.tableCounts() (kept by triggers on
 * SQLite, and for posts on Postgres; users and tasks recounted at most once a second there); sessions, stranded
 * tasks, queues and the outbox are bounded or indexed reads.
 */
export async function getStats(deps: Deps): Promise<Stats> {
  const { orm, tables } = deps.db;
  const { sessions } = tables;
  const now = deps.clock.now();
  const [counts, [sessionCounts], queues, stranded, outbox] = await Promise.all([
    deps.db.tableCounts(),
    orm.select({ active: count() }).from(sessions).where(gt(sessions.expiresAt, now)),
    deps.queue.depths(),
    findStrandedTasks(deps),
    deps.queue.outbox(),
  ]);
  return {
    users: counts.users,
    activeSessions: sessionCounts.active,
    posts: counts.posts,
    tasks: counts.tasks,
    queues,
    strandedTasks: stranded.length,
    outbox,
  };
}
