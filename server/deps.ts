// What every service and job receives: built once per process (or per test) and closed with it.
import type { Redis } from 'ioredis';
import { sql } from 'drizzle-orm';
import pkg from '../package.json' with { type: 'json' };
import { openDatabase, withoutAnnouncements, type Database } from '../db/index.ts';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { openQueue, queueBackendFor, type Queue, type QueueBackend } from '../jobs/queue.ts';
import type { RelayFault } from '../jobs/outbox.ts';
import type { RegisteredJob } from '../jobs/define.ts';
import { CACHE_CHANNEL, createCache, type Cache, type CachePeers } from './cache.ts';
import type { Mailer } from './mail/mailer.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { createTextAnalyzer, type TextAnalyzer } from './tasks/analyzer.ts';
import { createRateLimits, type RateLimits } from './rate-limits.ts';
import { createLive, type Live } from './live.ts';

export type Clock = { now(): Date };

export type Deps = {
  config: Config;
  logger: Logger;
  db: Database;
  clock: Clock;
  /** Present when REDIS_URL is set: shared state for every API process. */
  redis: Redis | null;
  rateLimits: RateLimits;
  cache: Cache;
  /** pg-boss: send jobs (also inside app transactions); workers work them. */
  queue: Queue;
  mailer: Mailer;
  /** CPU-heavy text analysis, on a thread of its own. */
  textAnalyzer: TextAnalyzer;
  metrics: Metrics;
  /** This process's live-update subscribers and the one listener that feeds them. */
  live: Live;
  version: string;
};

export type DepsRole = {
  /** This process works jobs (a worker, or the API with WORKER_IN_PROCESS). */
  worker: boolean;
  /** Test-only: a fault between a commit and the job outbox's send (jobs/outbox.ts). */
  relayFault?: RelayFault | undefined;
};

export const systemClock: Clock = { now: () => new Date() };
export const version: string = pkg.version;

/** Opens the database (retrying Postgres for DATABASE_STARTUP_TIMEOUT_MS) and migrates it unless told not to. */
export async function buildDeps(config: Config, logger: Logger, role: DepsRole = { worker: false }): Promise<Deps> {
  const db = await openDatabase({
    url: config.DATABASE_URL,
    poolMax: config.DATABASE_POOL_MAX,
    idleTimeoutMs: config.DATABASE_IDLE_TIMEOUT_MS,
    connectionTimeoutMs: config.DATABASE_CONNECTION_TIMEOUT_MS,
    statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
    startupTimeoutMs: config.DATABASE_STARTUP_TIMEOUT_MS,
    onPoolError: (err) => logger.warn({ err }, 'idle database connection failed'),
    onListenError: (err) => logger.warn({ err }, 'the LISTEN connection (live updates, cache invalidations) failed; reconnecting'),
  });
  try {
    if (config.MIGRATE_ON_START) await db.migrate();
  } catch (error) {
    await db.close();
    throw error;
  }
  return assembleDeps({ config, logger, db, worker: role.worker, relayFault: role.relayFault });
}

/** Everything but the database, which the caller opened (the API, a worker, or a test with its own database). */
export async function assembleDeps(parts: {
  config: Config;
  logger: Logger;
  db: Database;
  clock?: Clock | undefined;
  worker?: boolean;
  /** Overrides the queue's placement from the config (tests give each file its own). */
  queueBackend?: QueueBackend;
  relayFault?: RelayFault | undefined;
  /** The jobs to make queues for and work; jobs/registry.ts unless a test adds its own. */
  definitions?: readonly RegisteredJob[] | undefined;
}): Promise<Deps> {
  const { config, logger } = parts;
  // Without live updates, task writes announce nothing: no NOTIFY per write.
  const db = config.LIVE_UPDATES ? parts.db : withoutAnnouncements(parts.db);
  // ioredis is loaded only when there is a Redis to talk to.
  let redis: Redis | null = null;
  if (config.REDIS_URL) {
    const { createRedis, redisReady } = await import('./redis.ts');
    redis = createRedis(config.REDIS_URL, logger);
    await redisReady(redis, logger);
  }
  const queueBackend = parts.queueBackend ?? queueBackendFor(config);
  const queue = openQueue({ config, logger, db, worker: parts.worker ?? false, backend: queueBackend, relayFault: parts.relayFault, ...(parts.definitions ? { definitions: parts.definitions } : {}) });
  const clock = parts.clock ?? systemClock;
  const live = createLive({ config, logger, db, clock });
  return {
    config,
    logger,
    db,
    clock,
    redis,
    rateLimits: createRateLimits(config, redis, logger),
    cache: createCache(config, redis, logger, redis || db.dialect !== 'postgres' ? null : cachePeers(db)),
    queue,
    mailer: lazyMailer(config, logger),
    textAnalyzer: createTextAnalyzer(),
    metrics: createMetrics({ config, logger, db, queue, queueUrl: queueBackend.kind === 'postgres' ? queueBackend.url : null, subscribers: live.count }),
    live,
    version,
  };
}

/**
 * Processes on one Postgres that keep the cache in memory tell each other what they invalidated. (On SQLite one
 * process serves the database; with Redis the cache itself is shared.)
 */
function cachePeers(db: Database): CachePeers {
  return {
    publish: async (payload) => {
      await db.orm.execute(sql`select pg_notify(${CACHE_CHANNEL}, ${payload})`);
    },
    listen: (listener) => db.listen(CACHE_CHANNEL, listener),
  };
}

/**
 * The mailer, with nodemailer loaded on the first message: an API process on Postgres never sends one (the
 * workers do), and the embedded default sends its first well after start-up.
 */
function lazyMailer(config: Config, logger: Logger): Mailer {
  let mailer: Promise<Mailer> | null = null;
  const load = () => (mailer ??= import('./mail/mailer.ts').then(({ createMailer }) => createMailer(config, logger)));
  return {
    send: async (...args) => (await load()).send(...args),
    close: () => {
      void mailer?.then((loaded) => loaded.close());
    },
  };
}

/**
 * Stops the queue first (active jobs get `queueTimeoutMs` to finish, the rest go back for retry; already done
 * when the shutdown path stopped the work), then closes what the jobs used: the analysis thread, the mailer,
 * the database and Redis.
 */
export async function closeDeps(deps: Deps, queueTimeoutMs = 1_000): Promise<void> {
  await deps.live.close();
  await deps.cache.close();
  await deps.queue.stop(queueTimeoutMs);
  await deps.metrics.close();
  await deps.textAnalyzer.close();
  deps.mailer.close();
  await deps.db.close();
  if (deps.redis) await deps.redis.quit().catch(() => deps.redis?.disconnect());
}
