// Job operations for admins: a queue's jobs by state, one job with its secrets redacted, retry, cancel, delete,
// and retrying a whole dead-letter queue. Queues are the registered ones; every action is pg-boss's own.
import { deadLetterQueue } from '../../jobs/define.ts';
import { JobCursorGoneError, type JobState, type StoredJob } from '../../jobs/operations.ts';
import type { Deps } from '../deps.ts';
import { AppError, notFound } from '../errors.ts';
import { messageWithoutParams, redactSecrets } from '../logger.ts';
import type { Job, QueueInfo } from '../schemas.ts';

/** Jobs a list call reads at most when it filters by a state pg-boss cannot filter by (all but created, retry). */
export const LIST_SCAN_LIMIT = 5_000;
/** Dead-letter jobs moved per pg-boss redrive call, and the most one retryDead moves in all. */
const REDRIVE_BATCH = 1_000;
const REDRIVE_MAX = 100_000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A registered queue (or dead-letter queue); NOT_FOUND for any other name. */
function knownQueue(deps: Deps, queue: string): string {
  if (!deps.queue.names.includes(queue)) throw notFound('queue');
  return queue;
}

const isDeadLetterQueue = (deps: Deps, queue: string) => queue.endsWith('.dead') && deps.queue.names.includes(queue.slice(0, -'.dead'.length));

/** The `message` of a job output: ours (`{ message }`), or pg-boss's own for expiry (`{ value: { message } }`). */
function messageOf(output: unknown): string | null {
  if (typeof output !== 'object' || output === null) return null;
  const { message, value } = output as { message?: unknown; value?: unknown };
  if (typeof message === 'string') return message;
  return value === undefined ? null : messageOf(value);
}

function view(job: StoredJob): Job {
  const lastError = messageOf(job.output) ?? messageOf(job.source?.output);
  return {
    id: job.id,
    queue: job.queue,
    state: job.state,
    data: redactSecrets(job.data),
    output: redactSecrets(job.output),
    // Messages stored before failures were stored without query parameters lose them here.
    lastError: lastError === null ? null : messageWithoutParams(lastError),
    retryCount: job.retryCount,
    retryLimit: job.retryLimit,
    createdOn: job.createdOn,
    startAfter: job.startAfter,
    startedOn: job.startedOn,
    completedOn: job.completedOn,
    singletonKey: job.singletonKey,
    source: job.source && { queue: job.source.queue, id: job.source.id, retryCount: job.source.retryCount },
  };
}

async function stored(deps: Deps, queue: string, id: string): Promise<StoredJob> {
  knownQueue(deps, queue);
  // pg-boss ids are UUIDs: anything else is simply not found (and never reaches a uuid cast).
  const job = UUID.test(id) ? await deps.queue.jobs.get(queue, id) : null;
  if (!job) throw notFound('job');
  return job;
}

/** pg-boss's counts of every registered queue, each followed by its dead-letter queue. */
export function queueInfo(deps: Deps): Promise<QueueInfo[]> {
  return deps.queue.jobs.counts(deps.queue.names);
}

export async function listJobs(
  deps: Deps,
  input: { queue: string; state?: JobState | undefined; after?: string | undefined; limit: number },
): Promise<{ items: Job[]; next: string | null }> {
  const queue = knownQueue(deps, input.queue);
  try {
    const { jobs, next } = await deps.queue.jobs.list(queue, { state: input.state, after: input.after, limit: input.limit, scanLimit: LIST_SCAN_LIMIT });
    return { items: jobs.map(view), next };
  } catch (error) {
    if (!(error instanceof JobCursorGoneError)) throw error;
    const message = 'the job this page continues after no longer exists: start from the first page';
    throw new AppError('BAD_REQUEST', `after: ${message}`, { fieldErrors: { after: [message] } });
  }
}

export async function getJob(deps: Deps, queue: string, id: string): Promise<Job> {
  return view(await stored(deps, queue, id));
}

const changedMeanwhile = () => new AppError('CONFLICT', 'the job changed meanwhile: read it again');

/**
 * Runs a job again: a failed one (pg-boss `retry`), a cancelled one (`resume`), or one waiting in a dead-letter
 * queue, which pg-boss's `redrive` moves back to the queue it failed in as a new job, with that queue's retries.
 * Retrying the failed job in its own queue leaves its copy in the dead-letter queue.
 */
export async function retryJob(deps: Deps, queue: string, id: string): Promise<{ retried: number }> {
  const job = await stored(deps, queue, id);
  let retried: number;
  if (job.state === 'failed') retried = await deps.queue.jobs.retry(queue, id);
  else if (job.state === 'cancelled') retried = await deps.queue.jobs.resume(queue, id);
  else if (isDeadLetterQueue(deps, queue) && (job.state === 'created' || job.state === 'retry')) retried = await deps.queue.jobs.redrive(queue, { ids: [id], limit: 1 });
  else throw new AppError('CONFLICT', `only failed or cancelled jobs, and jobs waiting in a dead-letter queue, can be retried; this one is ${job.state}`);
  if (retried === 0) throw changedMeanwhile();
  return { retried };
}

/** Cancels a job that has not finished (pg-boss `cancel`); an active one's attempt runs on, but its outcome is dropped. */
export async function cancelJob(deps: Deps, queue: string, id: string): Promise<Job> {
  const job = await stored(deps, queue, id);
  if (job.state !== 'created' && job.state !== 'retry' && job.state !== 'active') throw new AppError('CONFLICT', `only jobs that have not finished can be cancelled; this one is ${job.state}`);
  if ((await deps.queue.jobs.cancel(queue, id)) === 0) throw changedMeanwhile();
  return view(await stored(deps, queue, id));
}

export async function deleteJob(deps: Deps, queue: string, id: string): Promise<void> {
  knownQueue(deps, queue);
  if (!UUID.test(id) || (await deps.queue.jobs.delete(queue, id)) === 0) throw notFound('job');
}

/**
 * Moves every job waiting in a queue's dead-letter queue (`queue` names either) back to the queue it failed in
 * (pg-boss `redrive`), in batches. Jobs dead-lettered after the call began are left for the next call.
 */
export async function retryDeadLetters(deps: Deps, queue: string): Promise<{ retried: number }> {
  knownQueue(deps, queue);
  const dead = isDeadLetterQueue(deps, queue) ? queue : deadLetterQueue({ name: queue });
  if (!deps.queue.names.includes(dead)) throw notFound('queue');
  const createdBefore = new Date();
  let retried = 0;
  while (retried < REDRIVE_MAX) {
    const moved = await deps.queue.jobs.redrive(dead, { createdBefore, limit: REDRIVE_BATCH });
    retried += moved;
    if (moved < REDRIVE_BATCH) break;
  }
  return { retried };
}
