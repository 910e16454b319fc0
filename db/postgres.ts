// Postgres through a pg Pool: bounded start-up retries, and migrations serialized across processes.
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import type { Logger as DrizzleLogger } from 'drizzle-orm';
import * as pgSchema from './schema/pg.ts';

export type PostgresOptions = {
  url: string;
  poolMax: number;
  idleTimeoutMs: number;
  connectionTimeoutMs: number;
  statementTimeoutMs: number;
  /** How long start-up keeps retrying an unreachable server before giving up. */
  startupTimeoutMs: number;
  onPoolError: (error: Error) => void;
};

/** Defaults for the pool settings; server/config.ts uses them for the DATABASE_* variables. */
export const POSTGRES_DEFAULTS = {
  poolMax: 10,
  idleTimeoutMs: 10_000,
  connectionTimeoutMs: 5_000,
  statementTimeoutMs: 30_000,
  startupTimeoutMs: 30_000,
} as const satisfies Omit<PostgresOptions, 'url' | 'onPoolError'>;

export type PostgresHandle = {
  orm: NodePgDatabase<typeof pgSchema>;
  pool: pg.Pool;
  migrate(folder: string): Promise<void>;
  close(): Promise<void>;
};

/**
 * Session settings the application relies on, whatever the server, database or role defaults say: pg parses
 * timestamps as ISO text in UTC (with `DateStyle` 'SQL, DMY' every authenticated request failed), and text
 * travels as UTF-8. Sent in the startup packet of every connection, so no connection can miss them.
 */
const SESSION_SETTINGS = { DateStyle: 'ISO,MDY', TimeZone: 'UTC', client_encoding: 'UTF8', IntervalStyle: 'postgres' } as const;

/**
 * The `options` connection parameter for `url`: what the URL's own `options` say, then the session settings
 * above (the later -c wins). For every pg Pool or Client of ours, pg-boss's included.
 */
export function sessionOptions(url: string): string {
  let own = '';
  try {
    own = new URL(url).searchParams.get('options') ?? '';
  } catch {
    // Not a URL: pg reports that when it connects.
  }
  const ours = Object.entries(SESSION_SETTINGS).map(([name, value]) => `-c ${name}=${value}`);
  return [own, ...ours].filter(Boolean).join(' ');
}

/** Any 64-bit number unique to this application; every process that migrates takes the same lock. */
const MIGRATION_LOCK_ID = 7_201_947_311;

export class DatabaseUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabaseUnavailableError';
  }
}

/** host:port/database of a URL, without credentials, for messages. */
export function describePostgresUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

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
