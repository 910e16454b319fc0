// What operators do to jobs, through pg-boss's own API only: find, list by state, retry, cancel, delete, redrive.
import type { JobWithMetadata, PgBoss } from 'pg-boss';

export const JOB_STATES = ['created', 'retry', 'active', 'completed', 'cancelled', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** A job as pg-boss stores it, with the fields operators read. */
export type StoredJob = {
  id: string;
  queue: string;
  state: JobState;
  data: unknown;
  output: unknown;
  retryCount: number;
  retryLimit: number;
  createdOn: Date;
  startAfter: Date;
  startedOn: Date | null;
  completedOn: Date | null;
  singletonKey: string | null;
  /** For a job in a dead-letter queue: the queue and job it failed as, its retries, and the output it failed with. */
  source: { queue: string; id: string | null; retryCount: number | null; output: unknown } | null;
};

/** pg-boss's cached counts of a queue (refreshed by its monitor, every QUEUE_MAINTENANCE_INTERVAL_SECONDS). */
export type QueueCounts = { name: string; deadLetter: string | null; queued: number; ready: number; deferred: number; active: number; failed: number; total: number };

/** The page `after` names a job that is gone (deleted, or removed by pg-boss's retention): start again. */
export class JobCursorGoneError extends Error {
  constructor() {
    super('the job the page continues after no longer exists');
    this.name = 'JobCursorGoneError';
  }
}

export type JobOperations = {
  get: (queue: string, id: string) => Promise<StoredJob | null>;
  /**
   * Oldest first (pg-boss's order), at most `limit` jobs in `state` (any state without one), after the job `after`.
   * pg-boss filters by state only for waiting jobs, so other states are picked from what it returns, reading at
   * most `scanLimit` jobs per call: `next` is where the following call continues, null when the queue has no more.
   */
  list: (queue: string, options: { state?: JobState | undefined; after?: string | undefined; limit: number; scanLimit: number }) => Promise<{ jobs: StoredJob[]; next: string | null }>;
  /** A failed job back to `retry` (pg-boss `retry`); how many jobs changed. */
  retry: (queue: string, id: string) => Promise<number>;
  /** A cancelled job back to `created` (pg-boss `resume`). */
  resume: (queue: string, id: string) => Promise<number>;
  cancel: (queue: string, id: string) => Promise<number>;
  delete: (queue: string, id: string) => Promise<number>;
  /** Moves waiting jobs of a dead-letter queue back to the queues they failed in, as new jobs (pg-boss `redrive`). */
  redrive: (deadLetterQueue: string, options: { ids?: string[]; createdBefore?: Date; limit: number }) => Promise<number>;
  counts: (queues: readonly string[]) => Promise<QueueCounts[]>;
};

const toStoredJob = (job: JobWithMetadata<unknown>): StoredJob => ({
  id: job.id,
  queue: job.name,
  state: job.state,
  data: job.data,
  output: job.output ?? null,
  retryCount: job.retryCount,
  retryLimit: job.retryLimit,
  createdOn: job.createdOn,
  startAfter: job.startAfter,
  startedOn: job.startedOn ?? null,
  completedOn: job.completedOn ?? null,
  singletonKey: job.singletonKey ?? null,
  source: job.sourceName ? { queue: job.sourceName, id: job.sourceId ?? null, retryCount: job.sourceRetryCount ?? null, output: job.sourceOutput ?? null } : null,
});

/**
 * pg-boss types the answer of its commands as an empty interface; at run time it is `{ jobs, requested, affected }`.
 * Read `affected`, and fail loudly should a later version change the shape.
 */
function affected(response: object): number {
  const value = (response as { affected?: unknown }).affected;
  if (typeof value !== 'number') throw new Error('pg-boss answered a job command without an `affected` count');
  return value;
}

/** `boss` starts pg-boss on first use (the queue's `ready`). */
export function createJobOperations(boss: () => Promise<PgBoss>): JobOperations {
  const find = async (queue: string, options: { id?: string; after?: string; queued?: boolean; limit: number }): Promise<JobWithMetadata<unknown>[]> => {
    const instance = await boss();
    try {
      return await instance.findJobs<unknown>(queue, options);
    } catch (error) {
      // pg-boss refuses a page after a job that no longer exists: tell that apart from a real failure.
      if (options.after !== undefined && (await instance.findJobs(queue, { id: options.after, limit: 1 })).length === 0) throw new JobCursorGoneError();
      throw error;
    }
  };

  return {
    get: async (queue, id) => {
      // findJobs by id: pg-boss 12 deprecates getJobById in its favour.
      const [job] = await find(queue, { id, limit: 1 });
      return job ? toStoredJob(job) : null;
    },

    list: async (queue, { state, after, limit, scanLimit }) => {
      const waiting = state === 'created' || state === 'retry';
      const jobs: StoredJob[] = [];
      let cursor = after;
      let scanned = 0;
      for (;;) {
        const batch = state === undefined ? limit - jobs.length : Math.min(1000, Math.max(1, scanLimit - scanned));
        const rows = await find(queue, { ...(cursor !== undefined ? { after: cursor } : {}), queued: waiting, limit: batch });
        scanned += rows.length;
        for (const row of rows) {
          cursor = row.id;
          if (state !== undefined && row.state !== state) continue;
          jobs.push(toStoredJob(row));
          if (jobs.length === limit) return { jobs, next: row.id };
        }
        if (rows.length < batch) return { jobs, next: null };
        if (scanned >= scanLimit) return { jobs, next: cursor ?? null };
      }
    },

    retry: async (queue, id) => affected(await (await boss()).retry(queue, id)),
    resume: async (queue, id) => affected(await (await boss()).resume(queue, id)),
    cancel: async (queue, id) => affected(await (await boss()).cancel(queue, id)),
    delete: async (queue, id) => affected(await (await boss()).deleteJob(queue, id)),

    redrive: async (deadLetterQueue, { ids, createdBefore, limit }) =>
      (await boss()).redrive(deadLetterQueue, { limit, ...(ids ? { ids } : {}), ...(createdBefore ? { createdBefore } : {}) }),

    counts: async (queues) => {
      const rows = await (await boss()).getQueues([...queues]);
      const byName = new Map(rows.map((row) => [row.name, row]));
      return queues.map((name) => {
        const row = byName.get(name);
        return {
          name,
          deadLetter: row?.deadLetter ?? null,
          queued: row?.queuedCount ?? 0,
          ready: row?.readyCount ?? 0,
          deferred: row?.deferredCount ?? 0,
          active: row?.activeCount ?? 0,
          failed: row?.failedCount ?? 0,
          total: row?.totalCount ?? 0,
        };
      });
    },
  };
}
