// What every service and job receives: built once per process (or per test) and closed with it.
import pkg from '../package.json' with { type: 'json' };
import { openDatabase, type Database } from '../db/index.ts';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';

export type Clock = { now(): Date };

export type Deps = {
  config: Config;
  logger: Logger;
  db: Database;
  clock: Clock;
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
  return { config, logger, db, clock: systemClock, version };
}

export async function closeDeps(deps: Deps): Promise<void> {
  await deps.db.close();
}
