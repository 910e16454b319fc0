// jobs.*: what admins see and do of the job queues: each queue's jobs by state, one job, retry, cancel, delete.
import { z } from 'zod';
import { adminProcedure, router } from '../trpc/init.ts';
import { cancelJob, deleteJob, getJob, listJobs, queueInfo, retryDeadLetters, retryJob } from '../services/jobs.ts';
import { Id, Job, JobState, Ok, QueueInfo } from '../schemas.ts';

/** A queue of jobs/registry.ts or its dead-letter queue (`<queue>.dead`); any other name is NOT_FOUND. */
const QueueName = z.string().min(1).max(200);
const Retried = z.object({ retried: z.number().int().nonnegative() });
const JobRef = z.object({ queue: QueueName, id: Id });

export const jobsRouter = router({
  queues: adminProcedure
    .meta({
      rest: {
        method: 'GET',
        path: '/admin/queues',
        summary: 'Every job queue with pg-boss’s counts (admin)',
        description:
          'Each registered queue followed by its dead-letter queue (`<queue>.dead`), with the counts pg-boss caches (refreshed by a worker every `QUEUE_MAINTENANCE_INTERVAL_SECONDS`); `GET /admin/stats` has exact ones.',
      },
    })
    .input(z.void())
    .output(z.array(QueueInfo))
    .query(({ ctx }) => queueInfo(ctx.deps)),

  list: adminProcedure
    .meta({
      rest: {
        method: 'GET',
        path: '/admin/queues/{queue}/jobs',
        summary: 'A queue’s jobs, by state, a page at a time (admin)',
        description:
          'Oldest first. Pass the answer’s `next` as `after` for the following page; `next` is null at the end. A page can hold fewer than `limit` jobs (even none) while `next` is not null: with a `state` other than `created` or `retry`, one call reads at most 5,000 jobs of the queue. An `after` whose job is gone is a 400: start again.',
        errors: ['NOT_FOUND'],
      },
    })
    .input(
      z.object({
        queue: QueueName,
        state: JobState.optional(),
        after: z.guid('must be a job id from a previous page').optional(),
        limit: z.number().int().min(1).max(100).default(20),
      }),
    )
    .output(z.object({ items: z.array(Job), next: z.string().nullable() }))
    .query(({ ctx, input }) => listJobs(ctx.deps, input)),

  get: adminProcedure
    .meta({
      rest: {
        method: 'GET',
        path: '/admin/queues/{queue}/jobs/{id}',
        summary: 'One job, with its payload (secrets redacted) and its last error (admin)',
        errors: ['NOT_FOUND'],
      },
    })
    .input(JobRef)
    .output(Job)
    .query(({ ctx, input }) => getJob(ctx.deps, input.queue, input.id)),

  retry: adminProcedure
    .meta({
      rest: {
        method: 'POST',
        path: '/admin/queues/{queue}/jobs/{id}/retry',
        summary: 'Run a failed or cancelled job again, or move a dead-letter job back to its queue (admin)',
        description:
          'A job waiting in a dead-letter queue goes back to the queue it failed in as a new job (pg-boss redrive), with that queue’s retries. Retrying the failed job in its own queue instead leaves its dead-letter copy where it is. Any other state is a 409.',
        errors: ['NOT_FOUND', 'CONFLICT'],
      },
    })
    .input(JobRef)
    .output(Retried)
    .mutation(({ ctx, input }) => retryJob(ctx.deps, input.queue, input.id)),

  cancel: adminProcedure
    .meta({
      rest: {
        method: 'POST',
        path: '/admin/queues/{queue}/jobs/{id}/cancel',
        summary: 'Cancel a job that has not finished (admin)',
        description: 'An active job’s attempt runs on, but its outcome is dropped. A finished job is a 409. Cancelling a `tasks.run` job does not cancel its task: use `POST /tasks/{id}/cancel`.',
        errors: ['NOT_FOUND', 'CONFLICT'],
      },
    })
    .input(JobRef)
    .output(Job)
    .mutation(({ ctx, input }) => cancelJob(ctx.deps, input.queue, input.id)),

  delete: adminProcedure
    .meta({ rest: { method: 'DELETE', path: '/admin/queues/{queue}/jobs/{id}', summary: 'Delete a job, whatever its state (admin)', errors: ['NOT_FOUND'] } })
    .input(JobRef)
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await deleteJob(ctx.deps, input.queue, input.id);
      return { ok: true as const };
    }),

  retryDead: adminProcedure
    .meta({
      rest: {
        method: 'POST',
        path: '/admin/queues/{queue}/retry-dead',
        summary: 'Move every job waiting in a queue’s dead-letter queue back to the queue (admin)',
        description: '`queue` names the queue or its dead-letter queue. Jobs dead-lettered after the call began stay for the next call. Answers how many jobs were moved.',
        errors: ['NOT_FOUND'],
      },
    })
    .input(z.object({ queue: QueueName }))
    .output(Retried)
    .mutation(({ ctx, input }) => retryDeadLetters(ctx.deps, input.queue)),
});
