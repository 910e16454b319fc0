// What a job is: one file per job under ./definitions, each a defineJob({...}) with everything about it.
import type { z } from 'zod';
import type { Deps } from '../server/deps.ts';

/** What a handler learns about the attempt it runs. */
export type JobContext = {
  id: string;
  /** 0 on the first attempt. */
  retryCount: number;
  /** The last attempt is the one where retryCount === retryLimit. */
  retryLimit: number;
  /** Aborted when the worker stops or the job expires: long work should give up. */
  signal: AbortSignal;
  /** This attempt's expiry (the queue's, as pg-boss stored it on the job): a deadline for the work must end before. */
  expireInSeconds: number;
};

export type JobOptions = {
  /** Retries after the first attempt. */
  retryLimit: number;
  /** Seconds before the first retry; doubled each time (with jitter), up to retryDelayMax. */
  retryDelay: number;
  retryDelayMax?: number;
  /** An attempt still active after this long is failed (and retried). */
  expireInSeconds: number;
  /** Workers refresh a heartbeat this often (÷2); a job whose worker died is retried after this many seconds. */
  heartbeatSeconds: number;
};

export type JobDefinition<P = unknown> = {
  /** The pg-boss queue; its dead-letter queue is `${name}.dead`. */
  name: string;
  payload: z.ZodType<P>;
  options: JobOptions;
  /** pg-boss cron (UTC) for scheduled jobs. */
  schedule?: string;
  /** Must be idempotent: pg-boss delivers at least once. */
  handler: (deps: Deps, payload: P, job: JobContext) => Promise<unknown>;
  /** Runs for a job that failed its last attempt (its copy in the dead-letter queue), e.g. to record the failure. */
  onDeadLetter?: (deps: Deps, payload: P, job: { id: string }) => Promise<void>;
};

export const defineJob = <P>(definition: JobDefinition<P>): JobDefinition<P> => definition;

export const deadLetterQueue = (definition: Pick<JobDefinition, 'name'>) => `${definition.name}.dead`;

/** A definition with its payload type erased, for lists of jobs: it parses its own payload before running. */
export type RegisteredJob = Pick<JobDefinition, 'name' | 'options' | 'schedule'> & {
  run: (deps: Deps, data: unknown, job: JobContext) => Promise<unknown>;
  runDeadLetter: ((deps: Deps, data: unknown, job: { id: string }) => Promise<void>) | undefined;
};

/** A job whose payload does not parse: it never will, so the queue dead-letters it at once. */
export class JobPayloadError extends Error {
  constructor(name: string, cause: unknown) {
    super(`the payload of job ${name} is invalid`, { cause });
    this.name = 'JobPayloadError';
  }
}

export function register<P>(definition: JobDefinition<P>): RegisteredJob {
  const { onDeadLetter } = definition;
  // Only the payload's own parse is a bad payload: a zod error from inside a handler (a result that does not
  // validate, say) is an ordinary failure, retried like any other.
  const parse = (data: unknown): P => {
    const parsed = definition.payload.safeParse(data);
    if (!parsed.success) throw new JobPayloadError(definition.name, parsed.error);
    return parsed.data;
  };
  return {
    name: definition.name,
    options: definition.options,
    schedule: definition.schedule,
    run: (deps, data, job) => definition.handler(deps, parse(data), job),
    runDeadLetter: onDeadLetter && ((deps, data, job) => onDeadLetter(deps, parse(data), job)),
  };
}

/** How long pg-boss keeps a finished job, payload and all: its default `deleteAfterSeconds`, which our queues keep. */
export const FINISHED_JOBS_KEPT_DAYS = 7;
