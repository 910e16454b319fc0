// Postgres through a pg Pool: bounded start-up retries, and migrations serialized across processes.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import type { Logger as DrizzleLogger } from 'drizzle-orm';
import * as pgSchema from './schema/pg.ts';
import { DatabaseUnavailableError, describePostgresUrl, sessionOptions, type PostgresOptions } from './postgres-settings.ts';

export type PostgresHandle = {
  orm: NodePgDatabase<typeof pgSchema>;
  pool: pg.Pool;
  migrate(folder: string): Promise<void>;
  close(): Promise<void>;
};

/** Any 64-bit number unique to this application; every process that migrates takes the same lock. */
const MIGRATION_LOCK_ID = 7_201_947_311;

export async function openPostgres(options: PostgresOptions, logger: DrizzleLogger): Promise<PostgresHandle> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolMax,
    idleTimeoutMillis: options.idleTimeoutMs,
    connectionTimeoutMillis: options.connectionTimeoutMs,
    statement_timeout: options.statementTimeoutMs || undefined,
    application_name: 'ai-backend-service',
    options: sessionOptions(options.url),
  });
  // An idle client losing its connection emits here; unhandled, it would crash the process.
  pool.on('error', options.onPoolError);
  // So would a checked-out client losing it between two statements (inside a transaction, say): the pool listens
  // only to idle ones. The statement that follows fails ("not queryable", a 503) and the pool drops the client.
  pool.on('connect', (client) => client.on('error', () => {}));

  const deadline = Date.now() + options.startupTimeoutMs;
  for (let attempt = 1, delay = 250; ; attempt++, delay = Math.min(delay * 2, 5_000)) {
    try {
      await pool.query('select 1');
      break;
    } catch (error) {
      if (Date.now() + delay > deadline) {
        await pool.end().catch(() => {});
        const reason = error instanceof Error ? error.message || error.name : String(error);
        throw new DatabaseUnavailableError(
          `could not connect to Postgres at ${describePostgresUrl(options.url)} after ${attempt} attempt(s): ${reason}`,
          { cause: error },
        );
      }
      await sleep(delay);
    }
  }

  const orm = drizzle(pool, { schema: pgSchema, logger });
  return {
    orm,
    pool,
    migrate: async (folder) => {
      // The lock lives on a connection of its own, outside the pool, so a pool of one can still migrate.
      const lock = new pg.Client({ connectionString: options.url, connectionTimeoutMillis: options.connectionTimeoutMs, options: sessionOptions(options.url) });
      await lock.connect();
      try {
        await lock.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
        await migrate(orm, { migrationsFolder: folder });
      } finally {
        // Ending the session releases the lock too, even if the unlock never ran.
        await lock.end();
      }
    },
    close: () => pool.end(),
  };
}
