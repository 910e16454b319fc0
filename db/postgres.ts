// Postgres through a pg Pool: bounded start-up retries, and migrations serialized across processes.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { drizzle, NodePgSession, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { createTableRelationsHelpers, extractTablesRelationalConfig, type ExtractTablesWithRelations } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
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
  // drizzle's transaction on a pool checks a client out and sends BEGIN before its try/finally: a connection lost
  // right then (Postgres restarting under load) kept that client checked out for good, and pool.end() at shutdown
  // waited for it until the hard deadline (exit 1). Here the client goes back to the pool whatever happens (a dead
  // one is dropped by the pool on release); inside, drizzle's own transaction on that one client.
  const dialect = new PgDialect();
  const relations = extractTablesRelationalConfig<ExtractTablesWithRelations<typeof pgSchema>>(pgSchema, createTableRelationsHelpers);
  const relational = { fullSchema: pgSchema, schema: relations.tables, tableNamesMap: relations.tableNamesMap };
  const transaction: typeof orm.transaction = async (fn, config) => {
    const client = await pool.connect();
    try {
      return await new NodePgSession<typeof pgSchema, ExtractTablesWithRelations<typeof pgSchema>>(client, dialect, relational, { logger }).transaction(fn, config);
    } finally {
      client.release();
    }
  };
  orm.transaction = transaction;
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
