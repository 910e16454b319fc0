// Opens the application database on either dialect behind one drizzle type that services are written against.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Param, sql, type Column, type Logger as DrizzleLogger, type SQL } from 'drizzle-orm';
import type { PGlite } from '@electric-sql/pglite';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import * as pgSchema from './schema/pg.ts';
// Each driver is loaded when a database of its kind is opened: a process pays only for the one it uses.
import type { PostgresOptions } from './postgres-settings.ts';
import type { NotificationListener } from './notifications.ts';

export { findUniqueViolation, isDatabaseUnavailable, type UniqueViolation } from './errors.ts';
export { PGLITE_SETTINGS } from './pglite.ts';
export type { NotificationListener } from './notifications.ts';
export { DatabaseUnavailableError, POSTGRES_DEFAULTS, describePostgresUrl, sessionOptions } from './postgres-settings.ts';
export { ROLES, TASK_STATUSES, newId, usernameKey, type Role, type TaskStatus } from './schema/shared.ts';

export type Dialect = 'sqlite' | 'postgres';

/**
 * Services are typed against the Postgres drizzle database and schema. On SQLite the same calls run on the
 * SQLite database and schema, handed in by the casts below: safe because db/schema/parity.ts makes both
 * schemas infer identical rows, and because every service test runs on both dialects.
 */
export type Orm = NodePgDatabase<typeof pgSchema>;
export type Tables = typeof pgSchema;
export type Tx = Parameters<Parameters<Orm['transaction']>[0]>[0];
/** Where a service's statements run: the database, or a transaction it was handed. */
export type Executor = Orm | Tx;

/** Where the data lives: the job queue uses it to tell whether it shares the app's database. */
export type DatabaseSource = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string } | { kind: 'pglite'; client: PGlite };

export type Database = {
  readonly dialect: Dialect;
  readonly source: DatabaseSource;
  readonly orm: Orm;
  readonly tables: Tables;
  /** Runs fn in a transaction; on SQLite other async callers' statements wait until it ends. */
  transaction: <T>(fn: (tx: Tx) => Promise<T>) => Promise<T>;
  /**
   * Locks the rows a select reads until the transaction ends (Postgres `FOR UPDATE`). On SQLite the query is
   * returned as is: transactions there never run concurrently.
   */
  forUpdate: <Q>(query: Q) => Q;
  /**
   * Case-insensitive "contains", in every script, `text` taken literally: ILIKE on Postgres (folding as the
   * database's locale does); on SQLite, whose LIKE folds ASCII only, instr() over both sides lower-cased by
   * JavaScript (`lower_unicode`, registered on the connection).
   */
  contains: (column: Column | SQL, text: string) => SQL;
  /** Case-sensitive, literal "contains": for columns kept folded by the application (usernames' keys, e-mails). */
  includes: (column: Column | SQL, text: string) => SQL;
  /**
   * A query built once per database and run many times with `sql.placeholder` values: for hot paths, where
   * building the SQL costs more than running it. On Postgres it is also a named server-side statement.
   */
  prepared: <P>(name: string, build: (orm: Orm, tables: Tables) => { prepare: (name: string) => P }) => P;
  /**
   * Substring search in a column the database keeps lower-cased (such as posts.search), with `text` lower-cased
   * by the same database: LIKE on Postgres, where a trigram index serves it; instr() on SQLite (a scan).
   */
  containsLowered: (column: Column | SQL, text: string) => SQL;
  /**
   * An expression for a statement's RETURNING list that announces `payload` on `channel`, once per returned row,
   * when the statement's transaction commits, and never when it rolls back: `pg_notify` on Postgres (heard by
   * every process that listens); on SQLite a function of the connection whose announcements this process's
   * listeners hear after the commit. (On SQLite a savepoint rolled back inside a committed transaction still
   * announces: nothing here uses savepoints.)
   */
  announce: (channel: string, payload: SQL) => SQL;
  /**
   * Hears a channel's announcements until the returned function is called. Postgres: one LISTEN connection per
   * process for every channel, opened on the first call (which waits for it), reopened when it drops, after
   * which every listener's `resync` runs.
   */
  listen: (channel: string, listener: NotificationListener) => Promise<() => Promise<void>>;
  /**
   * Runs `fn`'s statements in a transaction whose commit does not wait for the WAL flush (Postgres
   * `synchronous_commit = off`): for writes a crash may lose because a later synchronous commit (which flushes
   * the WAL in order, this one included) is what acknowledges them. Postgres serializes the commits of
   * transactions that NOTIFY, WAL flush included: this keeps announcing writes from queueing behind each other's
   * flushes. SQLite runs `fn` on the database as is.
   */
  lazyCommit: <T>(fn: (db: Executor) => Promise<T>) => Promise<T>;
  /** Postgres pool connections (total, idle, clients waiting), for metrics; null without a pool. */
  poolStats: () => { total: number; idle: number; waiting: number } | null;
  /** Resolves when the database answers a trivial query. */
  ping: () => Promise<void>;
  /** How many committed migrations this database has not applied yet. */
  pendingMigrations: () => Promise<number>;
  migrate: () => Promise<void>;
  /** Sees the text of every statement (tests count queries and check the columns they read). */
  onQuery: (listener: QueryListener) => () => void;
  close: () => Promise<void>;
};

/**
 * A placeholder of a prepared query that stands for a value of `column`, encoded as that column encodes values
 * (dates, JSON) on the dialect open: drizzle's types accept placeholders in inserts, not in an update's SET.
 */
export const valueOf = (name: string, column: Column): SQL => sql`${new Param(sql.placeholder(name), column)}`;

export type QueryListener = (sql: string) => void;

/** Pool settings apply to Postgres only; unset ones take POSTGRES_DEFAULTS. */
export type OpenOptions = {
  url: string;
  onListenError?: (error: Error, willRetry: boolean) => void;
} & Partial<Omit<PostgresOptions, 'url'>>;

/** The same database, with writes that announce nothing (the RETURNING list gets a null instead). */
export const withoutAnnouncements = (database: Database): Database => ({ ...database, announce: () => sql`null` });

const MIGRATIONS = {
  sqlite: fileURLToPath(new URL('./migrations/sqlite', import.meta.url)),
  postgres: fileURLToPath(new URL('./migrations/pg', import.meta.url)),
};

/** The `when` of the newest committed migration: the migrator applies every migration newer than the database's newest. */
function committedMigrations(dialect: Dialect): number[] {
  const journal = JSON.parse(readFileSync(`${MIGRATIONS[dialect]}/meta/_journal.json`, 'utf8')) as { entries: { when: number }[] };
  return journal.entries.map((entry) => entry.when);
}

function pendingAfter(dialect: Dialect, newestApplied: number | null): number {
  return committedMigrations(dialect).filter((when) => newestApplied === null || when > newestApplied).length;
}

/** `%text%` with LIKE's wildcards and its escape character escaped. */
const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;

function preparedCache(orm: Orm, tables: Tables): Database['prepared'] {
  const cache = new Map<string, unknown>();
  return <P>(name: string, build: (orm: Orm, tables: Tables) => { prepare: (name: string) => P }): P => {
    let query = cache.get(name) as P | undefined;
    if (query === undefined) {
      query = build(orm, tables).prepare(name);
      cache.set(name, query);
    }
    return query;
  };
}

function queryEvents(): { logger: DrizzleLogger; onQuery: Database['onQuery'] } {
  const listeners = new Set<QueryListener>();
  return {
    logger: {
      logQuery(query) {
        for (const listener of listeners) listener(query);
      },
    },
    onQuery(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** `file:<path>` or `:memory:` opens SQLite; `postgres://` / `postgresql://` opens Postgres. */
export async function openDatabase(options: OpenOptions): Promise<Database> {
  const events = queryEvents();
  if (!options.url.startsWith('postgres')) {
    const path = options.url === ':memory:' ? ':memory:' : options.url.replace(/^file:/, '');
    const { openSqlite } = await import('./sqlite.ts');
    const [{ createLocalBus }, sqlite] = await Promise.all([import('./notifications.ts'), Promise.resolve(openSqlite(path, events.logger))]);
    const orm = sqlite.orm as unknown as Orm;
    const tables = (await import('./schema/sqlite.ts')) as unknown as Tables;
    const bus = createLocalBus();
    sqlite.onAnnounce(bus.deliver);
    return {
      dialect: 'sqlite',
      source: { kind: 'sqlite', path },
      orm,
      tables,
      prepared: preparedCache(orm, tables),
      transaction: (fn) => orm.transaction(fn),
      forUpdate: (query) => query,
      contains: (column, text) => sql`instr(lower_unicode(${column}), lower_unicode(${text})) > 0`,
      includes: (column, text) => sql`instr(${column}, ${text}) > 0`,
      containsLowered: (column, text) => sql`instr(${column}, lower(${text})) > 0`,
      announce: (channel, payload) => sql`app_announce(${channel}, ${payload})`,
      lazyCommit: (fn) => fn(orm),
      listen: bus.listen,
      poolStats: () => null,
      ping: async () => {
        sqlite.raw.prepare('select 1').get();
      },
      pendingMigrations: async () => {
        const table = sqlite.raw.prepare("select 1 from sqlite_master where type = 'table' and name = '__drizzle_migrations'").get();
        const row = table ? (sqlite.raw.prepare('select max(created_at) as newest from __drizzle_migrations').get() as { newest: number | null }) : null;
        return pendingAfter('sqlite', row?.newest == null ? null : Number(row.newest));
      },
      migrate: () => sqlite.migrate(MIGRATIONS.sqlite),
      onQuery: events.onQuery,
      close: async () => sqlite.close(),
    };
  }
  const [{ openPostgres }, { POSTGRES_DEFAULTS, sessionOptions }, { createPostgresListener }] = await Promise.all([
    import('./postgres.ts'),
    import('./postgres-settings.ts'),
    import('./notifications.ts'),
  ]);
  const settings = { ...POSTGRES_DEFAULTS, onPoolError: () => {}, ...definedOnly(options) };
  const postgres = await openPostgres(settings, events.logger);
  const listener = createPostgresListener({
    url: options.url,
    options: sessionOptions(options.url),
    connectionTimeoutMs: settings.connectionTimeoutMs,
    onError: (error, willRetry) => (options.onListenError ?? settings.onPoolError)(error instanceof Error ? error : new Error(String(error)), willRetry),
  });
  return postgresDatabase(postgres.orm, { kind: 'postgres', url: options.url }, {
    listen: listener.listen,
    poolStats: () => ({ total: postgres.pool.totalCount, idle: postgres.pool.idleCount, waiting: postgres.pool.waitingCount }),
    ping: async () => {
      await postgres.pool.query('select 1');
    },
    migrate: () => postgres.migrate(MIGRATIONS.postgres),
    close: async () => {
      await listener.close();
      await postgres.close();
    },
    onQuery: events.onQuery,
  });
}

function definedOnly<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as T;
}

/** Postgres in WASM: the test suite's Postgres when TEST_DATABASE_URL is unset. Migrated on open unless told not to. */
export async function openPgliteDatabase(options: { migrate?: boolean } = {}): Promise<Database> {
  const events = queryEvents();
  const { openPglite } = await import('./pglite.ts');
  const pglite = await openPglite(events.logger);
  const orm = pglite.orm as unknown as Orm;
  const database = postgresDatabase(orm, { kind: 'pglite', client: pglite.client }, {
    listen: async (channel, listener) => {
      const stop = await pglite.client.listen(channel, (payload) => listener.message(payload));
      return () => stop();
    },
    poolStats: () => null,
    ping: async () => {
      await pglite.orm.execute('select 1');
    },
    migrate: () => pglite.migrate(MIGRATIONS.postgres),
    close: () => pglite.close(),
    onQuery: events.onQuery,
  });
  if (options.migrate !== false) await database.migrate();
  return database;
}

function postgresDatabase(orm: Orm, source: DatabaseSource, parts: Pick<Database, 'ping' | 'migrate' | 'close' | 'onQuery' | 'poolStats' | 'listen'>): Database {
  return {
    dialect: 'postgres',
    source,
    orm,
    tables: pgSchema,
    prepared: preparedCache(orm, pgSchema),
    transaction: (fn) => orm.transaction(fn),
    forUpdate: (query) => (query as { for: (strength: 'update') => typeof query }).for('update'),
    contains: (column, text) => sql`${column} ilike ${likePattern(text)} escape '\\'`,
    includes: (column, text) => sql`strpos(${column}, ${text}) > 0`,
    containsLowered: (column, text) => sql`${column} like lower(${likePattern(text)}) escape '\\'`,
    announce: (channel, payload) => sql`pg_notify(${channel}, ${payload})`,
    lazyCommit: (fn) =>
      orm.transaction(async (tx) => {
        await tx.execute(sql`set local synchronous_commit = off`);
        return fn(tx);
      }),
    pendingMigrations: async () => {
      // Two statements: Postgres resolves a missing table at parse time, even in a branch never taken.
      const table = await orm.execute<{ present: boolean }>("select to_regclass('drizzle.__drizzle_migrations') is not null as present");
      if (!table.rows[0]?.present) return pendingAfter('postgres', null);
      const result = await orm.execute<{ newest: string | null }>('select max(created_at)::text as newest from drizzle.__drizzle_migrations');
      const newest = result.rows[0]?.newest;
      return pendingAfter('postgres', newest == null ? null : Number(newest));
    },
    ...parts,
  };
}
