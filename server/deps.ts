// What every service and job receives: built once per process (or per test) and closed with it.
import type { Redis } from 'ioredis';
import pkg from '../package.json' with { type: 'json' };
import { openDatabase, type Database } from '../db/index.ts';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { createCache, type Cache } from './cache.ts';
import { createRateLimits, type RateLimits } from './rate-limits.ts';
import { createRedis, redisReady } from './redis.ts';

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
  version: string;
};

export const systemClock: Clock = { now: () => new Date() };
export const version: string = pkg.version;

/** Opens the database (retrying Postgres for DATABASE_STARTUP_TIMEOUT_MS) and migrates it unless told not to. */
export async function buildDeps(config: Config, logger: Logger): Promise<Deps> {
  const db = await openDatabase({
    url: config.DATABASE_URL,
    poolMax: config.DATABASE_POOL_MAX,
    idleTimeoutMs: config.DATABASE_IDLE_TIMEOUT_MS,
    connectionTimeoutMs: config.DATABASE_CONNECTION_TIMEOUT_MS,
    statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
    startupTimeoutMs: config.DATABASE_STARTUP_TIMEOUT_MS,
    onPoolError: (err) => logger.warn({ err }, 'idle database connection failed'),
  });
  try {
    if (config.MIGRATE_ON_START) await db.migrate();
  } catch (error) {
    await db.close();
    throw error;
  }
  return assembleDeps({ config, logger, db });
}

/** Everything but the database, which the caller opened (the API, a worker, or a test with its own database). */
export async function assembleDeps(parts: { config: Config; logger: Logger; db: Database; clock?: Clock | undefined }): Promise<Deps> {
  const { config, logger } = parts;
  const redis = config.REDIS_URL ? createRedis(config.REDIS_URL, logger) : null;
  if (redis) await redisReady(redis, logger);
  return {
    ...parts,
    clock: parts.clock ?? systemClock,
    redis,
    rateLimits: createRateLimits(config, redis, logger),
    cache: createCache(config, redis, logger),
    version,
  };
}

export async function closeDeps(deps: Deps): Promise<void> {
  await deps.db.close();
  if (deps.redis) await deps.redis.quit().catch(() => deps.redis?.disconnect());
}
