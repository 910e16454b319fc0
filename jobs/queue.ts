// pg-boss, the one job engine: in the app's Postgres (jobs commit with the app's transaction), or elsewhere
// (PGlite beside the embedded SQLite default, QUEUE_DATABASE_URL), where jobs go through a transactional outbox.
import { mkdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { SpanStatusCode } from '@opentelemetry/api';
import { sql } from 'drizzle-orm';
import { PgBoss, fromDrizzle, fromPglite, type ConstructorOptions, type JobResult, type JobWithMetadata } from 'pg-boss';
import type { PGlite } from '@electric-sql/pglite';
import { PGLITE_SETTINGS, sessionOptions, type Database, type Tx } from '../db/index.ts';
import type { Config } from '../server/config.ts';
import type { Deps } from '../server/deps.ts';
import { messageWithoutParams, type Logger } from '../server/logger.ts';
import { tracer, tracingEnabled } from '../server/telemetry/state.ts';
import { deadLetterQueue, JobPayloadError, type JobDefinition, type RegisteredJob } from './define.ts';
import { lazyQueueDashboard, type QueueDashboard } from './dashboard.ts';
import { createJobOperations, type JobOperations } from './operations.ts';
import { createRelay, type OutboxRow, type OutboxStats, type RelayFault } from './outbox.ts';
import { openPgliteThread, type Collected, type RemotePglite, type ThreadSupervision } from './pglite-remote.ts';
import { registeredJobs } from './registry.ts';

/** Where pg-boss keeps its tables (schema `pgboss`). `client`: an open PGlite to share (tests, tools). */
export type QueueBackend =
  | { kind: 'postgres'; url: string }
  /** `template`: a dump (`snapshot()`) of a queue database to start an in-memory one from, instead of creating it (tests). */
  | {
      kind: 'pglite';
      dataDir: string | null;
      client?: PGlite;
      template?: Blob;
      /** Tests, for a data directory: the PGlite thread's module (one they can kill) and its restart budget. */
      thread?: Pick<ThreadSupervision, 'script' | 'restarts'>;
    };

/**
 * QUEUE_DATABASE_URL if set; else the app's Postgres; else PGlite in a `queue` directory beside the SQLite
 * file (./data/queue for the default ./data/app.db), or in memory beside an in-memory SQLite.
 */
export function queueBackendFor(config: Pick<Config, 'QUEUE_DATABASE_URL' | 'DATABASE_URL'>): QueueBackend {
  const app = config.DATABASE_URL;
  const url = config.QUEUE_DATABASE_URL ?? (app.startsWith('postgres') ? app : app === ':memory:' ? 'memory:' : `file:${join(dirname(app.replace(/^file:/, '')), 'queue')}`);
  if (url.startsWith('postgres')) return { kind: 'postgres', url };
  return { kind: 'pglite', dataDir: url === 'memory:' ? null : url.replace(/^file:/, '') };
}

/**
 * `failed`: jobs that used all their attempts and that pg-boss still keeps (it deletes finished jobs after
 * 7 days), so it only grows until then; `failedLast24h`: those of them that failed in the last 24 hours.
 * What is still to be handled after a failure is the queued count of the `.dead` queue.
 */
export type QueueDepth = { queued: number; active: number; failed: number; failedLast24h: number };
/** A table `Queue.vacuum` vacuumed, with the dead rows it held before. */
export type VacuumedTable = { table: string; deadRows: number; liveRows: number };
/** Autovacuum's defaults (autovacuum_vacuum_threshold, autovacuum_vacuum_scale_factor). */
const VACUUM_THRESHOLD = 50;
const VACUUM_SCALE_FACTOR = 0.2;
/** Adds jobs to the transaction `Queue.transaction` runs: one, or many in one statement. */
export type Enqueue = <P>(definition: JobDefinition<P>, ...payloads: P[]) => Promise<void>;

export type Queue = {
  readonly backend: QueueBackend['kind'];
  /** True when jobs live in the app's own Postgres, so enqueuing joins the app's transaction. */
  readonly sharesAppDatabase: boolean;
  /**
   * Starts pg-boss and creates every queue (idempotent), relays what the outbox holds (a crash's leftovers)
   * and starts the outbox sweep. Processes call it at boot, before they report ready; sending starts pg-boss too.
   */
  start: () => Promise<void>;
  send: <P>(definition: JobDefinition<P>, payload: P, options?: { tx?: Tx }) => Promise<string>;
  /** Many jobs of one kind in one statement (pg-boss insert). */
  sendMany: <P>(definition: JobDefinition<P>, payloads: P[], options?: { tx?: Tx }) => Promise<void>;
  /**
   * Runs `fn` in an app transaction. Jobs it enqueues commit or roll back with it: in pg-boss's own tables when
   * they share the database; otherwise as outbox rows in the app database, which the relay sends right after
   * the commit (or, if that send fails, later: a failed send never fails the transaction that committed).
   */
  transaction: <T>(fn: (tx: Tx, enqueue: Enqueue) => Promise<T>) => Promise<T>;
  /** The outbox backlog (always empty when the jobs share the app's database). */
  outbox: () => Promise<OutboxStats>;
  /** Works every queue in this process, and registers the schedules. */
  work: (deps: Deps) => Promise<void>;
  /**
   * Why the queue cannot work at all, else null: the embedded queue's PGlite thread died more often than it is
   * restarted (see openPgliteThread), until the process restarts. Readiness reports it; jobs wait in the outbox.
   */
  failure: () => Error | null;
  /**
   * Collects the heap of the embedded queue's PGlite thread (RemotePglite.collect): for the idle collector, once
   * the process has gone quiet after load. Null where the queue has no thread of its own.
   */
  collect: () => Promise<Collected>;
  /** Exact per-queue counts, straight from pg-boss's job table. */
  depths: () => Promise<Record<string, QueueDepth>>;
  /**
   * Of these values of a payload field (`taskId`), which have a live job (created, retry or active) in the
   * queue or its dead-letter queue, and which ever reached the dead-letter queue (whatever its state now).
   */
  jobsFor: (definition: Pick<JobDefinition, 'name'>, field: string, values: string[]) => Promise<{ live: Set<string>; deadLettered: Set<string> }>;
  /**
   * Strips every job whose payload's `field` (`taskId`) is one of `values` down to that field, in the outbox, the
   * queue and its dead-letter queue: for rows just deleted (a deleted account's tasks), whose jobs would otherwise
   * keep what they carry of them (a small task's input) until pg-boss deletes finished jobs, 7 days on. A job still
   * to run runs on what its task's row holds, as a job without it does. A send under way (in any process) strips
   * its job as it deletes its row (Relay.forget). Returns how many outbox rows and jobs it changed; `jobs` is null
   * where this process's queue has not started (a tool's): only the outbox was reached. `stop` waits for it.
   */
  forget: (definition: Pick<JobDefinition, 'name'>, field: string, values: readonly string[]) => Promise<{ outbox: number; jobs: number | null }>;
  /** Every queue of this deployment's jobs (jobs/registry.ts) and, after each, its dead-letter queue. */
  readonly names: readonly string[];
  /** What operators do to jobs (admin procedures), through pg-boss's own API. */
  readonly jobs: JobOperations;
  /**
   * pg-boss's web dashboard over this queue, mounted at `basePath` (one per queue, loaded on its first request,
   * closed with the queue); null on PGlite, which no other process can reach by URL.
   */
  dashboard: (basePath: string) => QueueDashboard | null;
  /** A queue's jobs (oldest first), optionally those whose payload contains `data`: for operators and tests. */
  find: (queue: Pick<JobDefinition, 'name'> | string, data?: object) => Promise<{ id: string; state: string; data: unknown; output: unknown; retryCount: number }[]>;
  /**
   * The embedded queue's PGlite data directory as a gzipped tar, taken between two statements (PGlite runs one
   * at a time), after a checkpoint: what `npm run backup` stores. Null when the jobs live on a Postgres server.
   */
  snapshot: () => Promise<Blob | null>;
  /**
   * What autovacuum does on a Postgres server, for the embedded queue's PGlite (which runs none): every pg-boss
   * table whose dead rows are past autovacuum's default threshold (50 + 20 % of its live rows) is vacuumed and
   * analyzed. The process that works the jobs runs it every maintenance interval; it returns what it vacuumed
   * (nothing on a Postgres server, whose autovacuum does this).
   */
  vacuum: () => Promise<VacuumedTable[]>;
  /**
   * Stops fetching, lets active jobs finish within `timeoutMs` and fails the rest back for retry. Jobs can
   * still be sent (requests still draining enqueue theirs) until `stop`.
   */
  stopWorking: (timeoutMs: number) => Promise<void>;
  /** `stopWorking`, then closes: sending fails from here on. */
  stop: (timeoutMs: number) => Promise<void>;
};

export type QueueOptions = {
  config: Config;
  logger: Logger;
  db: Database;
  /** Whether this process works jobs: only then does it supervise (expire, retry) and run schedules. */
  worker: boolean;
  /** Overrides what the config says (tests put the queue in their own database). */
  backend?: QueueBackend;
  definitions?: readonly RegisteredJob[];
  /** Test-only: a fault between a commit and the relay's send (see RelayFault). */
  relayFault?: RelayFault | undefined;
};

export function openQueue({ config, logger, db, worker, backend = queueBackendFor(config), definitions = registeredJobs, relayFault }: QueueOptions): Queue {
  const source = db.source;
  const sharesAppDatabase =
    (backend.kind === 'postgres' && source.kind === 'postgres' && backend.url === source.url) ||
    (backend.kind === 'pglite' && source.kind === 'pglite' && backend.client === source.client);
  for (const variable of ['WORKER_QUEUE_CONCURRENCY', 'QUEUE_EXPIRE_SECONDS', 'QUEUE_HEARTBEAT_SECONDS'] as const) {
    for (const name of Object.keys(config[variable])) {
      if (!definitions.some((definition) => definition.name === name)) {
        throw new Error(`${variable} names an unknown queue "${name}"; queues: ${definitions.map((d) => d.name).join(', ')}`);
      }
    }
  }
  const known = new Set(definitions.map((definition) => definition.name));
  const maintenanceIntervalSeconds = Math.max(config.QUEUE_MAINTENANCE_INTERVAL_SECONDS, 60);
  const roles: Partial<ConstructorOptions> = {
    // pg-boss spans (no-ops while tracing is off); a job carries the trace of the request that sent it.
    openTelemetry: { propagateContext: true },
    supervise: worker,
    schedule: worker,
    superviseIntervalSeconds: config.QUEUE_MAINTENANCE_INTERVAL_SECONDS,
    monitorIntervalSeconds: config.QUEUE_MAINTENANCE_INTERVAL_SECONDS,
    maintenanceIntervalSeconds,
  };

  let pglite: PGlite | RemotePglite | null = null;
  let boss: PgBoss | null = null;
  /** start() has begun: it relays the outbox once pg-boss is up, so commits before then need not wait for it. */
  let startBegun = false;
  let starting: Promise<PgBoss> | null = null;
  let stoppingWork: Promise<void> | null = null;
  let closing: Promise<void> | null = null;
  let dashboard: QueueDashboard | null = null;
  /** Aborted when work stops: a PGlite thread still starting then ends instead of holding the shutdown. */
  const opening = new AbortController();
  let vacuumTimer: NodeJS.Timeout | null = null;
  let vacuuming: Promise<VacuumedTable[]> | null = null;
  let failure: Error | null = null;

  /** The embedded queue's PGlite (its own or the one it was given), else null. */
  const queuePglite = (): PGlite | RemotePglite | null => (backend.kind === 'pglite' ? (backend.client ?? pglite) : null);

  async function vacuumTables(): Promise<VacuumedTable[]> {
    await ready();
    const client = queuePglite();
    if (!client) return [];
    const { rows } = await client.query<{ table: string; dead: number; live: number }>(
      `select relname as table, n_dead_tup::int as dead, n_live_tup::int as live from pg_stat_user_tables
        where schemaname = 'pgboss' and n_dead_tup > $1::float8 + $2::float8 * n_live_tup order by relname`,
      [VACUUM_THRESHOLD, VACUUM_SCALE_FACTOR],
    );
    const vacuumed: VacuumedTable[] = [];
    for (const row of rows) {
      if (closing) break;
      // One table at a time: PGlite runs one statement at a time, so pg-boss's own statements wait only for one.
      await client.exec(`vacuum (analyze) pgboss."${row.table.replaceAll('"', '""')}"`);
      vacuumed.push({ table: row.table, deadRows: row.dead, liveRows: row.live });
    }
    return vacuumed;
  }
  /** One vacuum at a time: the timer's and a caller's share it. */
  const vacuum = (): Promise<VacuumedTable[]> =>
    (vacuuming ??= vacuumTables().finally(() => {
      vacuuming = null;
    }));

  async function create(): Promise<PgBoss> {
    let instance: PgBoss;
    if (backend.kind === 'postgres') {
      instance = new PgBoss({ connectionString: backend.url, schema: 'pgboss', max: Math.min(config.DATABASE_POOL_MAX, 10), application_name: 'ai-backend-service:queue', options: sessionOptions(backend.url), ...roles });
    } else if (backend.client) {
      instance = new PgBoss({ db: fromPglite(backend.client), backend: 'pglite', schema: 'pgboss', ...roles });
    } else {
      let client: PGlite | RemotePglite;
      if (backend.dataDir) {
        mkdirSync(backend.dataDir, { recursive: true });
        // The embedded default's queue, on a thread of its own: PGlite's start (initdb on a first run) and pg-boss's
        // statements never hold the event loop requests are served on.
        client = await openPgliteThread({ dataDir: backend.dataDir, settings: PGLITE_SETTINGS }, opening.signal, {
          ...backend.thread,
          onRestart: (error, restarts) =>
            logger.error({ err: error, restartsInLastMinute: restarts }, 'job queue: its PGlite thread died; a new one has opened the same data directory'),
          onGiveUp: (error) => {
            failure = error;
            logger.fatal({ err: error }, 'job queue: its PGlite thread keeps dying; jobs wait in the outbox until the process restarts');
          },
        });
      } else {
        // In memory (tests, tools, an in-memory SQLite): in this thread, where PGlites share one compiled WASM module.
        const { PGlite } = await import('@electric-sql/pglite');
        client = await PGlite.create({
          ...(backend.template ? { loadDataDir: backend.template } : {}),
          startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS],
        });
      }
      pglite = client;
      instance = new PgBoss({ db: fromPglite(client), backend: 'pglite', schema: 'pgboss', ...roles });
    }
    // An EventEmitter without an 'error' listener throws; pg-boss reports polling and maintenance failures here.
    instance.on('error', (err: Error) => logger.error({ err }, 'job queue error'));
    instance.on('warning', (warning: { message: string }) => logger.warn({ warning: warning.message }, 'job queue warning'));
    await instance.start();
    for (const definition of definitions) {
      const options = {
        retryLimit: definition.options.retryLimit,
        retryDelay: definition.options.retryDelay,
        retryBackoff: true,
        ...(definition.options.retryDelayMax ? { retryDelayMax: definition.options.retryDelayMax } : {}),
        // Per-queue overrides from the config (QUEUE_EXPIRE_SECONDS, QUEUE_HEARTBEAT_SECONDS): short ones in tests.
        expireInSeconds: config.QUEUE_EXPIRE_SECONDS[definition.name] ?? definition.options.expireInSeconds,
        heartbeatSeconds: config.QUEUE_HEARTBEAT_SECONDS[definition.name] ?? definition.options.heartbeatSeconds,
      };
      // The dead-letter queue first: pg-boss refuses a queue whose dead-letter queue does not exist.
      await instance.createQueue(deadLetterQueue(definition), { retryLimit: 0, expireInSeconds: 300 });
      await instance.createQueue(definition.name, { ...options, deadLetter: deadLetterQueue(definition) });
      // createQueue never changes an existing queue: bring its options up to date with the definition.
      await instance.updateQueue(definition.name, { ...options, deadLetter: deadLetterQueue(definition) });
    }
    boss = instance;
    return instance;
  }

  const ready = (): Promise<PgBoss> => {
    if (closing) return Promise.reject(new Error('the job queue is closed'));
    return boss ? Promise.resolve(boss) : (starting ??= create());
  };
  /** The instance if it was ever started (or is starting), without starting one. */
  const started = async (): Promise<PgBoss | null> => boss ?? (starting ? await starting.catch(() => null) : null);

  // pg-boss stops its workers and supervision but keeps its pool: sending still works until stop().
  const stopWorking = (timeoutMs: number): Promise<void> =>
    (stoppingWork ??= (async () => {
      // Not up yet: nothing to stop. Jobs sent from here on stay in the outbox for the next start.
      if (!boss) opening.abort();
      const instance = await started();
      if (instance) await instance.stop({ graceful: true, timeout: timeoutMs, close: false });
    })());

  async function send<P>(definition: JobDefinition<P>, payload: P, options: { tx?: Tx } = {}): Promise<string> {
    if (!known.has(definition.name)) throw new Error(`job "${definition.name}" is not registered in jobs/registry.ts`);
    const data = definition.payload.parse(payload) as object | null;
    const instance = await ready();
    const id = await instance.send(definition.name, data, options.tx ? { db: fromDrizzle(options.tx, sql) } : {});
    if (!id) throw new Error(`pg-boss did not accept a job for ${definition.name}`);
    return id;
  }

  async function sendMany<P>(definition: JobDefinition<P>, payloads: P[], options: { tx?: Tx } = {}): Promise<void> {
    if (payloads.length === 1) {
      await send(definition, payloads[0], options);
      return;
    }
    if (!known.has(definition.name)) throw new Error(`job "${definition.name}" is not registered in jobs/registry.ts`);
    const jobs = payloads.map((payload) => ({ data: definition.payload.parse(payload) as object }));
    const instance = await ready();
    await instance.insert(definition.name, jobs, options.tx ? { db: fromDrizzle(options.tx, sql) } : {});
  }

  // Every process that opens both databases relays: the fast path after its own commits, a drain at start,
  // and a sweep for rows whose process died. pg-boss skips a job whose id it has: several relays sending the
  // same row make one job.
  const relay = createRelay({
    db,
    logger,
    fault: relayFault,
    send: async (name, jobs) => {
      const instance = await ready();
      await instance.insert(name, jobs.map((job) => ({ id: job.id, data: job.data as object })));
    },
    restore: async (name, jobs) => {
      const instance = await ready();
      await instance
        .getDb()
        .executeSql(`update pgboss.job j set data = v.data from jsonb_to_recordset($2::jsonb) as v(id uuid, data jsonb) where j.name = $1 and j.id = v.id`, [name, JSON.stringify(jobs)]);
    },
  });
  /** Forgets under way: `stop` lets them finish. */
  const forgetting = new Set<Promise<unknown>>();

  return {
    backend: backend.kind,
    sharesAppDatabase,
    start: async () => {
      startBegun = true;
      await ready();
      try {
        const sent = await relay.drain('start');
        if (sent > 0) logger.info({ jobs: sent }, 'job outbox: relayed what was left from before the start');
      } catch (error) {
        logger.warn({ err: error }, 'job outbox: could not relay at start; the sweep retries');
      }
      relay.startSweeping();
    },
    send,
    sendMany,
    names: definitions.flatMap((definition) => [definition.name, deadLetterQueue(definition)]),
    jobs: createJobOperations(ready),
    dashboard: (basePath) => (backend.kind === 'postgres' ? (dashboard ??= lazyQueueDashboard(backend.url, basePath)) : null),

    transaction: sharesAppDatabase
      ? async (fn) => {
          await ready();
          return db.transaction((tx) => fn(tx, (definition, ...payloads) => sendMany(definition, payloads, { tx })));
        }
      : async (fn) => {
          // No pg-boss needed to commit: the jobs are rows of the app database until the relay sends them.
          const written: OutboxRow[] = [];
          let result: Awaited<ReturnType<typeof fn>>;
          try {
            result = await db.transaction((tx) =>
              fn(tx, async (definition, ...payloads) => {
                if (!known.has(definition.name)) throw new Error(`job "${definition.name}" is not registered in jobs/registry.ts`);
                const data = payloads.map((payload) => definition.payload.parse(payload));
                written.push(...(await relay.write(tx, definition.name, data)));
              }),
            );
          } catch (error) {
            relay.release(written);
            throw error;
          }
          // While start() is still bringing pg-boss up the request does not wait: the send goes on behind it (in the
          // request's trace context) once pg-boss is up, and the start's drain leaves those rows to it.
          if (boss || !startBegun) await relay.deliver(written);
          else void relay.deliver(written);
          return result;
        },

    outbox: () => relay.stats(),
    failure: () => failure,
    collect: async () => {
      const client = queuePglite();
      return client && 'collect' in client ? client.collect() : null;
    },

    work: async (deps) => {
      const instance = await ready();
      if (queuePglite() && !vacuumTimer) {
        // PGlite runs no autovacuum: without this, every job's state changes and pg-boss's deletions leave dead
        // rows that only ever grow (36,607 of them after 20,000 jobs, measured).
        vacuumTimer = setInterval(() => {
          const started = performance.now();
          vacuum().then(
            (tables) => {
              if (tables.length > 0) logger.info({ tables, ms: Math.round(performance.now() - started) }, 'job queue vacuumed');
            },
            (error: unknown) => {
              if (!closing) logger.warn({ err: error }, 'job queue vacuum failed; the next interval retries');
            },
          );
        }, maintenanceIntervalSeconds * 1000);
        vacuumTimer.unref();
      }
      const pollingIntervalSeconds = config.QUEUE_POLLING_INTERVAL_SECONDS;
      for (const definition of definitions) {
        const concurrency = config.WORKER_QUEUE_CONCURRENCY[definition.name] ?? config.WORKER_CONCURRENCY;
        // pg-boss waits a polling interval between fetches unless it bursts; it bursts while fetched batches
        // come back full. Fetching `concurrency` jobs at a time and bursting drains a backlog at full speed
        // (a batch settles together, so its slowest job sets the pace of the next fetch).
        const options = {
          batchSize: concurrency,
          localConcurrency: 1,
          burstWhenBatchFull: concurrency > 1,
          burstWhenReadyExceeds: 1,
          pollingIntervalSeconds,
          includeMetadata: true,
          perJobResults: true,
        } as const;
        const attempt = async (job: JobWithMetadata<object>): Promise<JobResult> => {
          const started = performance.now();
          try {
            await definition.run(deps, job.data, { id: job.id, retryCount: job.retryCount, retryLimit: job.retryLimit, signal: job.signal, expireInSeconds: job.expireInSeconds });
            deps.metrics.observeJob(definition.name, 'completed', (performance.now() - started) / 1000);
            return { id: job.id, status: 'completed' };
          } catch (error) {
            deps.metrics.observeJob(definition.name, 'failed', (performance.now() - started) / 1000);
            // A payload that does not parse never will: straight to the dead-letter queue.
            const permanent = error instanceof JobPayloadError;
            deps.logger.warn({ err: error, job: definition.name, jobId: job.id, attempt: job.retryCount + 1, lastAttempt: permanent || job.retryCount >= job.retryLimit }, 'job attempt failed');
            return { id: job.id, status: permanent ? 'deadletter' : 'failed', output: { message: messageWithoutParams(error) } };
          }
        };
        // A batch shares pg-boss's `process` span; with tracing on each job gets a span of its own inside it.
        const tracedAttempt = (job: JobWithMetadata<object>) =>
          tracer().startActiveSpan(`job ${definition.name}`, { attributes: { 'messaging.message.id': job.id, 'pgboss.job.retry_count': job.retryCount } }, async (span) => {
            const result = await attempt(job);
            if (result.status !== 'completed') span.setStatus({ code: SpanStatusCode.ERROR, message: 'job attempt failed' });
            span.end();
            return result;
          });
        await instance.work(definition.name, options, (jobs: JobWithMetadata<object>[]) =>
          Promise.all(
            jobs.map((job) => (tracingEnabled() ? tracedAttempt(job) : attempt(job))),
          ),
        );
        const { runDeadLetter } = definition;
        if (runDeadLetter) {
          await instance.work(deadLetterQueue(definition), { pollingIntervalSeconds }, async (jobs) => {
            for (const job of jobs) await runDeadLetter(deps, job.data, { id: job.id });
          });
        }
        if (definition.schedule) await instance.schedule(definition.name, definition.schedule, null, { tz: 'UTC' });
      }
    },

    depths: async () => {
      const instance = await ready();
      const names = definitions.flatMap((definition) => [definition.name, deadLetterQueue(definition)]);
      const result: { rows: unknown[] } = await instance
        .getDb()
        .executeSql(
          `select name, state, count(*)::int as n, (count(*) filter (where completed_on > now() - interval '24 hours'))::int as recent
             from pgboss.job where name = any($1) and state in ('created', 'retry', 'active', 'failed') group by name, state`,
          [names],
        );
      const { rows } = result as { rows: { name: string; state: string; n: number; recent: number }[] };
      const depths: Record<string, QueueDepth> = Object.fromEntries(names.map((name) => [name, { queued: 0, active: 0, failed: 0, failedLast24h: 0 }]));
      for (const { name, state, n, recent } of rows) {
        const depth = depths[name];
        if (state === 'active') depth.active += n;
        else if (state === 'failed') {
          depth.failed += n;
          depth.failedLast24h += recent;
        } else depth.queued += n;
      }
      return depths;
    },

    jobsFor: async (definition, field, values) => {
      const live = new Set<string>();
      const deadLettered = new Set<string>();
      if (values.length === 0) return { live, deadLettered };
      const instance = await ready();
      const dead = deadLetterQueue(definition);
      const result: { rows: { key: string; name: string; state: string }[] } = await instance
        .getDb()
        .executeSql(`select data->>$2 as key, name, state::text as state from pgboss.job where name = any($1) and data->>$2 = any($3)`, [[definition.name, dead], field, values]);
      for (const { key, name, state } of result.rows) {
        if (state === 'created' || state === 'retry' || state === 'active') live.add(key);
        if (name === dead) deadLettered.add(key);
      }
      return { live, deadLettered };
    },

    forget: (definition, field, values) => {
      const work = (async () => {
        if (values.length === 0) return { outbox: 0, jobs: 0 };
        const outbox = sharesAppDatabase ? 0 : await relay.forget(definition.name, field, values);
        // Never started here (every server process starts it at boot; a tool may not): not started for this.
        const instance = await started();
        if (!instance) return { outbox, jobs: null };
        // One pass over the queues' jobs (nothing indexes their payload), joined to the values by hash.
        const result: { rows: unknown[] } = await instance.getDb().executeSql(
          `with stripped as (
             update pgboss.job j set data = jsonb_build_object($2::text, j.data->$2)
               from unnest($3::text[]) as v(key)
              where j.name = any($1) and j.data->>$2 = v.key and j.data <> jsonb_build_object($2::text, j.data->$2)
              returning 1)
           select count(*)::int as n from stripped`,
          [[definition.name, deadLetterQueue(definition)], field, [...values]],
        );
        return { outbox, jobs: (result.rows as { n: number }[])[0].n };
      })();
      forgetting.add(work);
      void work.finally(() => forgetting.delete(work)).catch(() => {});
      return work;
    },

    find: async (queue, data) => {
      const instance = await ready();
      const jobs = await instance.findJobs<unknown>(typeof queue === 'string' ? queue : queue.name, data ? { data } : {});
      return jobs.map((job) => ({ id: job.id, state: job.state, data: job.data, output: job.output, retryCount: job.retryCount }));
    },

    snapshot: async () => {
      if (backend.kind !== 'pglite') return null;
      await ready();
      const client = queuePglite();
      if (!client) return null;
      await client.exec('checkpoint');
      return client.dumpDataDir('gzip');
    },

    vacuum,
    stopWorking,
    stop: (timeoutMs) =>
      (closing ??= (async () => {
        if (vacuumTimer) clearInterval(vacuumTimer);
        await vacuuming?.catch(() => {});
        await relay.stop();
        await dashboard?.close();
        await stopWorking(timeoutMs);
        // Stopped working, pg-boss still takes statements: a forget under way ends first.
        await Promise.allSettled([...forgetting]);
        const instance = await started();
        if (instance) await instance.stop({ close: true });
        await pglite?.close();
      })()),
  };
}
