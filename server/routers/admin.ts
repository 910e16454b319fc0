// admin.*: what internal dashboards read.
import { z } from 'zod';
import { TASK_STATUSES } from '../../db/index.ts';
import { adminProcedure, adminStreamProcedure, router } from '../trpc/init.ts';
import { eventStream } from '../trpc/event-stream.ts';
import { getStats } from '../services/stats.ts';
import { STATS_EVENT_ID, openStatsWatch } from '../services/live-updates.ts';

const Count = z.number().int().nonnegative();

export const Stats = z.object({
  users: z.object({ total: Count, active: Count }),
  activeSessions: Count,
  posts: z.object({ total: Count, published: Count }),
  tasks: z.record(z.enum(TASK_STATUSES), Count),
  /**
   * Per pg-boss queue (dead-letter queues end in `.dead`): exact counts, not pg-boss's cached ones. `failed`
   * counts the jobs that used all their attempts and that pg-boss still keeps (7 days), `failedLast24h` those
   * that failed in the last 24 hours; the `.dead` queue's `queued` is what is still to be handled.
   */
  queues: z.record(z.string(), z.object({ queued: Count, active: Count, failed: Count, failedLast24h: Count })),
  /** Tasks queued or running with no live job (past a grace period): the task sweep repairs them every 5 minutes. */
  strandedTasks: Count,
  /**
   * Jobs committed in the app database but not yet handed to pg-boss (the transactional outbox, used when the
   * jobs live in another database): how many, and how long the oldest has waited (null when none).
   */
  outbox: z.object({ pending: Count, oldestAgeSeconds: z.number().nonnegative().nullable() }),
});

export const adminRouter = router({
  stats: adminProcedure
    .meta({ rest: { method: 'GET', path: '/admin/stats', summary: 'Counts of users, sessions, posts, tasks, queued jobs and the job outbox backlog (admin)' } })
    .input(z.void())
    .output(Stats)
    .query(({ ctx }) => getStats(ctx.deps)),

  onStats: adminStreamProcedure
    .meta({
      rest: {
        method: 'GET',
        path: '/admin/stats/events',
        summary: 'admin.stats as server-sent events, when the counts change (at most once a second; admin)',
        description: 'The current counts first, also after a reconnect (`Last-Event-ID` resumes nothing: counts have no history).',
      },
    })
    .input(z.object({ lastEventId: z.string().max(100).regex(STATS_EVENT_ID, 'is not an event id of this stream').optional() }).optional())
    .output(eventStream(Stats))
    .subscription(({ ctx, input, signal }) => openStatsWatch(ctx.deps, { ...ctx.user, auth: ctx.auth }, input?.lastEventId, signal)),
});
