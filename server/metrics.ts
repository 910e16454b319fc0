// Prometheus metrics (prom-client): procedure latency, process, database pool, and job queues.
import { createHash, timingSafeEqual } from 'node:crypto';
import pg from 'pg';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { sessionOptions, type Database } from '../db/index.ts';
import type { OutboxStats } from '../jobs/outbox.ts';
import type { Queue } from '../jobs/queue.ts';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';

export type Metrics = {
  registry: Registry;
  /** One finished tRPC call: its path and type, and `OK` or the error code. Never inputs or user ids. */
  observeProcedure: (path: string, type: string, code: string, seconds: number) => void;
  /** One job attempt: its queue and `completed` or `failed`. */
  observeJob: (queue: string, outcome: 'completed' | 'failed', seconds: number) => void;
  /** One run of the task sweep: how many stranded tasks it put back in the queue, and how many it failed. */
  observeTaskSweep: (requeued: number, failed: number) => void;
  /** One request refused with 503 because the event loop lagged (load shedding). */
  observeShed: () => void;
  /** Whether `authorization` carries METRICS_TOKEN (compared in constant time). */
  authorized: (authorization: string | undefined) => boolean;
  close: () => Promise<void>;
};

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const digest = (text: string) => createHash('sha256').update(text).digest();

/** Arbitrary, fixed: every process of a deployment contends for the same advisory lock. */
const DEPTH_LOCK_KEY = 7_201_947_312;

/**
 * Queue depth describes the shared queue, not a process: exported by one process only, whichever holds a
 * Postgres advisory lock on a connection of its own. A scrape of any other process tries to take the lock,
 * so when the holder goes away the next process scraped takes over. On PGlite (one process by nature) that
 * process exports it.
 */
function depthLeader(queueUrl: string | null, logger: Logger): { isLeader: () => Promise<boolean>; close: () => Promise<void> } {
  if (!queueUrl) return { isLeader: async () => true, close: async () => {} };
  let client: pg.Client | null = null;
  let leader = false;
  let attempt: Promise<boolean> | null = null;
  const drop = async (connection: pg.Client): Promise<void> => {
    if (client !== connection) return;
    client = null;
    leader = false;
    await connection.end().catch(() => {});
  };
  const tryLock = async (): Promise<boolean> => {
    if (leader && client) return true;
    const connection = new pg.Client({ connectionString: queueUrl, application_name: 'ai-backend-service:metrics', options: sessionOptions(queueUrl) });
    client = connection;
    connection.on('error', () => void drop(connection)).on('end', () => void drop(connection));
    try {
      await connection.connect();
      const { rows } = await connection.query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [DEPTH_LOCK_KEY]);
      leader = rows[0].locked;
    } catch (error) {
      logger.debug({ err: error }, 'queue depth leader election failed; the next scrape retries');
    }
    // The leader keeps its connection (the lock lives with it); the others hold none between scrapes.
    if (!leader) await drop(connection);
    return leader;
  };
  return {
    isLeader: () => (attempt ??= tryLock().finally(() => (attempt = null))),
    close: async () => {
      if (client) await drop(client);
    },
  };
}
export function createMetrics(parts: {
  config: Config;
  logger: Logger;
  db: Database;
  queue: Queue;
  queueUrl: string | null;
  /** Open live-update subscriptions of this process, by procedure kind. */
  subscribers?: () => { tasks: number; stats: number };
}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const procedures = new Histogram({
    name: 'trpc_procedure_duration_seconds',
    help: 'Duration of tRPC procedure calls, by procedure path, type and result code',
    labelNames: ['path', 'type', 'code'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const jobs = new Histogram({
    name: 'job_duration_seconds',
    help: 'Duration of job attempts, by queue and outcome',
    labelNames: ['queue', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const swept = new Counter({
    name: 'task_sweep_repaired_total',
    help: 'Tasks the sweep found queued or running with no live job, by what it did (requeued, failed)',
    labelNames: ['action'] as const,
    registers: [registry],
  });
  const shed = new Counter({
    name: 'http_requests_shed_total',
    help: 'Requests refused with 503 because the event loop lagged over OVERLOAD_EVENT_LOOP_DELAY_MS (load shedding)',
    registers: [registry],
  });
  // Present from the start (at 0), so a rate over it exists before the first repair.
  swept.inc({ action: 'requeued' }, 0);
  swept.inc({ action: 'failed' }, 0);
  const { db } = parts;
  new Gauge({
    name: 'db_pool_connections',
    help: 'Postgres pool connections of this process, by state (total, idle, waiting clients)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const stats = db.poolStats();
      if (!stats) return;
      this.set({ state: 'total' }, stats.total);
      this.set({ state: 'idle' }, stats.idle);
      this.set({ state: 'waiting' }, stats.waiting);
    },
  });
  const { subscribers } = parts;
  new Gauge({
    name: 'live_subscribers',
    help: 'Open live-update subscriptions (SSE) held by this process, by stream (tasks, stats)',
    labelNames: ['stream'] as const,
    registers: [registry],
    collect() {
      const counts = subscribers?.() ?? { tasks: 0, stats: 0 };
      this.set({ stream: 'tasks' }, counts.tasks);
      this.set({ stream: 'stats' }, counts.stats);
    },
  });
  // The election runs on scrapes: without METRICS_TOKEN there are none, and no connection either.
  const leader = depthLeader(parts.queueUrl, parts.logger);
  const { queue } = parts;
  new Gauge({
    name: 'job_queue_jobs',
    help: 'Jobs per queue and state (queued, active, failed: kept by pg-boss for 7 days, failed_24h: failed in the last 24 h); exported by one process of the deployment',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      if (!(await leader.isLeader())) return;
      const depths = await queue.depths().catch(() => null);
      for (const [name, depth] of Object.entries(depths ?? {})) {
        this.set({ queue: name, state: 'queued' }, depth.queued);
        this.set({ queue: name, state: 'active' }, depth.active);
        this.set({ queue: name, state: 'failed' }, depth.failed);
        this.set({ queue: name, state: 'failed_24h' }, depth.failedLast24h);
      }
    },
  });
  // The outbox is the app database's, shared by every process: exported by the same one process. Both gauges
  // of a scrape (collected concurrently) share one query.
  let outboxScrape: Promise<OutboxStats | null> | null = null;
  const outboxStats = () =>
    (outboxScrape ??= (async () => ((await leader.isLeader()) ? queue.outbox().catch(() => null) : null))().finally(() => {
      setTimeout(() => (outboxScrape = null), 200).unref();
    }));
  new Gauge({
    name: 'job_outbox_rows',
    help: 'Jobs committed in the app database and not yet relayed to pg-boss (the transactional outbox); exported by one process of the deployment',
    // Labelled, so a process that does not export it shows no sample at all (a label-less gauge always shows 0).
    labelNames: ['database'],
    registers: [registry],
    async collect() {
      this.reset();
      const stats = await outboxStats();
      if (stats) this.set({ database: 'app' }, stats.pending);
    },
  });
  new Gauge({
    name: 'job_outbox_oldest_age_seconds',
    help: 'How long the oldest job outbox row has waited (0 when the outbox is empty); exported with job_outbox_rows',
    labelNames: ['database'],
    registers: [registry],
    async collect() {
      this.reset();
      const stats = await outboxStats();
      if (stats) this.set({ database: 'app' }, stats.oldestAgeSeconds ?? 0);
    },
  });

  const token = parts.config.METRICS_TOKEN ? digest(parts.config.METRICS_TOKEN) : null;
  return {
    registry,
    observeProcedure: (path, type, code, seconds) => procedures.observe({ path, type, code }, seconds),
    observeJob: (name, outcome, seconds) => jobs.observe({ queue: name, outcome }, seconds),
    observeTaskSweep: (requeued, failed) => {
      swept.inc({ action: 'requeued' }, requeued);
      swept.inc({ action: 'failed' }, failed);
    },
    observeShed: () => shed.inc(),
    authorized: (authorization) => {
      const presented = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
      return token !== null && presented !== undefined && timingSafeEqual(digest(presented), token);
    },
    close: () => leader.close(),
  };
}
