// Opens the application database on either dialect behind one drizzle type that services are written against.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { and, count, or, Param, sql, type Column, type Logger as DrizzleLogger, type SQL, type SQLWrapper } from 'drizzle-orm';
import type { PGlite } from '@electric-sql/pglite';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import * as pgSchema from './schema/pg.ts';
import { searchKey, searchKeyLength, searchKeyOf } from './schema/search-key.ts';
// Each driver is loaded when a database of its kind is opened: a process pays only for the one it uses.
import type { PostgresOptions } from './postgres-settings.ts';
import type { NotificationListener } from './notifications.ts';
import { mapRowsOnce } from './row-mapper.ts';
import { fts5FoldsAlike } from './fts5-fold.ts';

export { findUniqueViolation, isDatabaseUnavailable, type UniqueViolation } from './errors.ts';
export { PGLITE_SETTINGS } from './pglite.ts';
export type { NotificationListener } from './notifications.ts';
export { DatabaseUnavailableError, POSTGRES_DEFAULTS, describePostgresUrl, sessionOptions } from './postgres-settings.ts';
export { ROLES, TASK_STATUSES, newId, usernameKey, type Role, type TaskStatus } from './schema/shared.ts';
import { TASK_STATUSES, usernameKey, type TaskStatus } from './schema/shared.ts';

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
   * JavaScript (`lower_unicode`, registered on the connection), or for ASCII `text` by SQLite's lower() where that
   * gives the same answer.
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
   * Posts whose title or body contains `text` (case-insensitive, literal), from the posts' trigram index (pg_trgm on
   * Postgres; the FTS5 table posts_fts on SQLite; see TextSearch). Both indexes hold the text without its spaces,
   * so text under 3 characters other than spaces (as `a b`) cannot be asked with.
   */
  postsSearch: (text: string) => TextSearch;
  /**
   * Users whose username, e-mail or full name contains `text` (users.list `q`), literally: the username key against
   * `text`'s (A–Z folded), the e-mail as stored (lower-cased when saved) against `text` lower-cased, the full name
   * case-insensitively in every script (as `contains`). `scan` and `indexed(cap)` as postsSearch's, from trigram
   * indexes over the three columns (migration 0012: pg_trgm on Postgres, the FTS5 table users_fts on SQLite), for
   * text of three characters or more (with spaces: names hold them).
   */
  usersSearch: (text: string) => TextSearch;
  /**
   * The row counts admin.stats shows. SQLite: exact, from table_counts (kept by triggers; a count(*) there would
   * hold the process). Postgres: posts from its table_counts (kept by triggers too), users and tasks counted by
   * queries; all at most once a second (a dashboard polls), each caller served the last counts while one recount
   * runs.
   */
  tableCounts: () => Promise<TableCounts>;
  /**
   * An SQL expression for a count the database keeps exact in every write's own transaction (table_counts on
   * both dialects: `posts`, `posts.published`), for a list to stop counting where the kept count already tells
   * it.
   */
  keptCount: (name: KeptCount) => SQL;
  /**
   * An expression for a statement's RETURNING list that announces `payload` on `channel`, once per returned row,
   * when the statement's transaction commits, and never when it rolls back: `pg_notify` on Postgres (heard by
   * every process that listens); on SQLite a function of the connection whose announcements this process's
   * listeners hear after the commit. (On SQLite a savepoint rolled back inside a committed transaction still
   * announces: nothing here uses savepoints.)
   */
  announce: (channel: string, payload: SQL) => SQL;
  /**
   * `rows` as a relation named `alias` for a statement's FROM (`update … from`), so one statement writes many rows,
   * each with values of its own: `${alias}.${column}` in the statement reads them. Passed as one JSON parameter
   * (Postgres `jsonb_to_recordset`, SQLite `json_each`); null and undefined values read as NULL. Column names
   * must differ from the table's.
   */
  rowsOf: <C extends string>(alias: string, columns: Record<C, RowsOfType>, rows: Partial<Record<C, unknown>>[]) => SQL;
  /**
   * Hears a channel's announcements until the returned function is called. Postgres: one LISTEN connection per
   * process for every channel, opened on the first call (which waits for it), reopened when it drops, after
   * which every listener's `resync` runs.
   */
  listen: (channel: string, listener: NotificationListener) => Promise<() => Promise<void>>;
  /**
   * A condition to AND into the WHERE of a write that runs as a statement of its own (not inside `transaction`):
   * its commit then does not wait for the WAL flush (Postgres `set_config('synchronous_commit', 'off', true)`,
   * which holds for the statement's own transaction only; one round trip, where BEGIN / SET LOCAL / COMMIT took
   * four). For writes a crash may lose because a later synchronous commit (which flushes the WAL in order, this
   * one included) is what acknowledges them. Postgres serializes the commits of transactions that NOTIFY, WAL
   * flush included: this keeps announcing writes from queueing behind each other's flushes. Undefined on SQLite.
   */
  lazyCommit: SQL | undefined;
  /**
   * Runs a read-only statement where it does not hold the thread that serves requests, and gives its rows as arrays
   * of column values in the order selected (as the database stores them: map them as their columns do): on a SQLite
   * file, the reader's connection on its own thread (db/sqlite-reader.ts), which sees what has committed when the
   * statement starts. Null where a statement does not hold that thread (Postgres) or there is no second connection
   * (an in-memory SQLite database): run it with `orm` there.
   */
  readOffThread: ((query: SQL) => Promise<unknown[][]>) | null;
  /** Postgres pool connections (total, idle, clients waiting), for metrics; null without a pool. */
  poolStats: () => { total: number; idle: number; waiting: number } | null;
  /**
   * Runs a bulk insert of posts with the search index built once afterwards instead of row by row (several times
   * faster): SQLite drops the FTS and count insert triggers, fills posts_fts anew and counts the posts once; Postgres
   * drops the trigram index and creates it again. Searches meanwhile are slow or incomplete: for seeding, not for a serving database.
   */
  bulkLoadPosts: <T>(load: () => Promise<T>) => Promise<T>;
  /**
   * After a bulk load: refreshes the planner's statistics (index choice depends on them) and, on Postgres, vacuums,
   * which marks the loaded pages all-visible so that index-only scans need not visit the table (a page of a list at
   * 1,000,000 posts: 1.3 ms instead of 6.6 ms) and autovacuum has nothing left to do on them while they are served.
   */
  analyze: () => Promise<void>;
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

/** A statement's text and its parameters, as drizzle sends them. */
export type QueryListener = (sql: string, params: unknown[]) => void;

/**
 * A text search of a list: `scan`, the condition tested row by row (for walks down another index that stop early);
 * `indexed(cap)`, from the table's trigram index, a condition selecting exactly the matching rows if at most `cap`
 * rows match, else null (as for text the index cannot be asked with). The condition lists the keys the index gave
 * (rowids on SQLite, ids on Postgres), so the statements that use it do not search the index again.
 */
export type TextSearch = { scan: SQL; indexed: (cap: number) => Promise<SQL | null> };

/** The names of table_counts' rows (migrations: SQLite 0009, Postgres 0010) that lists use. */
export type KeptCount = 'posts' | 'posts.published';

export type TableCounts = { users: { total: number; active: number }; posts: { total: number; published: number }; tasks: Record<TaskStatus, number> };

const noTasks = (): Record<TaskStatus, number> => Object.fromEntries(TASK_STATUSES.map((status) => [status, 0])) as Record<TaskStatus, number>;

/** The shortest text a trigram index can find. */
const TRIGRAM = 3;

/**
 * How many candidates a search tests from its word boundaries (both dialects); for more, it asks with the whole
 * text instead (boundaries common themselves, as "ne qu" of "xylophone quorum", where "query" and "queue" are
 * common words). Testing one reads its row, up to ~20 µs at 1,000,000 posts.
 */
export const SEARCH_CANDIDATES = 250;

/** The two letters outside ASCII whose lower case in JavaScript holds ASCII: k, and i with a dot above (U+0307). */
const KELVIN_SIGN = '\u212a';
const DOTTED_CAPITAL_I = '\u0130';

/** Printable ASCII only: text whose case both dialects fold alike, and that a boundary window cannot cut mid-character. */
const isPrintableAscii = (text: string): boolean => /^[\x20-\x7e]*$/.test(text);

/**
 * The word boundaries a search asks its dialect's index with first (see wordBoundaryWindows), those whose key is a
 * trigram or more. ASCII text only: a window cut out of other text can split a character in two (outside the BMP),
 * or lower-case differently from the whole (a final sigma under ICU), and so miss a post that holds the text.
 */
const boundaryWindows = (text: string): string[] =>
  isPrintableAscii(text) ? wordBoundaryWindows(text).filter((window) => searchKeyLength(window) >= TRIGRAM) : [];

/**
 * The text around each of its word boundaries, two characters either side of a run of spaces ("ka xy" of
 * "quokka xylophone"): short pieces that every post containing the text contains, made of far rarer trigrams than
 * the words' own. None for a text without an inner space.
 */
export function wordBoundaryWindows(text: string): string[] {
  const windows: string[] = [];
  const boundary = /(?<=\S) +(?=\S)/g;
  for (let found = boundary.exec(text); found; found = boundary.exec(text)) {
    windows.push(text.slice(Math.max(0, found.index - 2), found.index + found[0].length + 2));
  }
  return windows;
}

/**
 * users.list's test of one user for `text` (Database.usersSearch), written with a dialect's `includes` and
 * `contains`: the username key against text's key, the e-mail (lower-cased when saved) against text lower-cased,
 * the full name case-insensitively in every script.
 */
function usersMatching(
  { includes, contains }: Pick<Database, 'includes' | 'contains'>,
  users: { usernameKey: Column; email: Column; fullName: Column },
  text: string,
): SQL {
  return or(includes(users.usernameKey, usernameKey(text)), includes(users.email, text.toLowerCase()), contains(users.fullName, text)) as SQL;
}

/** The types of `Database.rowsOf` columns: `json` is any JSON value, `timestamp` a Date. */
export type RowsOfType = 'text' | 'integer' | 'json' | 'timestamp';

/** Rows as one JSON text, timestamps encoded as `timestamp` says, and nulls left out (a missing key reads as NULL). */
function rowsJson(alias: string, columns: Record<string, RowsOfType>, rows: Partial<Record<string, unknown>>[], timestamp: (date: Date) => string | number): string {
  const names = Object.keys(columns);
  // The alias and the column names go into the SQL as they are: plain identifiers only.
  for (const name of [alias, ...names]) if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`rowsOf: "${name}" is not a plain lower-case identifier`);
  return JSON.stringify(
    rows.map((row) => {
      const out: Record<string, unknown> = {};
      for (const name of names) {
        const value = row[name];
        if (value === null || value === undefined) continue;
        out[name] = columns[name] === 'timestamp' ? timestamp(value as Date) : value;
      }
      return out;
    }),
  );
}

/** How long Postgres' counts are reused: users and tasks cost a scan of each table's smallest index. */
const COUNTS_MAX_AGE_MS = 1000;

/**
 * A count Postgres keeps (migration 0010: table_counts, the sum of a few shards, kept by statement triggers on
 * posts). The name goes in as a constant: the statement that reads it is the same at every run (plannedOnce).
 */
const keptPostgres = (name: KeptCount): SQL<number> =>
  sql<number>`(select coalesce(sum(value), 0) from table_counts where name = ${sql.raw(`'${name}'`)})`.mapWith(Number);

/** `load`'s last result while it is younger than maxAgeMs; one load at a time, its callers sharing it. */
function reused<T>(load: () => Promise<T>, maxAgeMs: number): () => Promise<T> {
  let last: { value: T; at: number } | null = null;
  let running: Promise<T> | null = null;
  const refresh = () =>
    (running ??= load().then(
      (value) => {
        last = { value, at: performance.now() };
        running = null;
        return value;
      },
      (error: unknown) => {
        running = null;
        throw error;
      },
    ));
  return async () => {
    if (last && performance.now() - last.at < maxAgeMs) return last.value;
    // Stale: served while one recount runs, so pollers never wait on it; the first caller waits.
    if (last) {
      refresh().catch(() => {});
      return last.value;
    }
    return refresh();
  };
}

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
      query = mapRowsOnce(build(orm, tables).prepare(name));
      cache.set(name, query);
    }
    return query;
  };
}

function queryEvents(): { logger: DrizzleLogger; onQuery: Database['onQuery'] } {
  const listeners = new Set<QueryListener>();
  return {
    logger: {
      logQuery(query, params) {
        for (const listener of listeners) listener(query, params);
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
    // Long read-only statements (see postsSearch) go to a second connection on a thread; an in-memory database
    // is this connection's alone, so there they run here.
    const reader = path === ':memory:' ? null : (await import('./sqlite-reader.ts')).openSqliteReader(path);
    // Writes a statement's text and parameters for the reader, as the connection's own drizzle would.
    const sqliteDialect = new (await import('drizzle-orm/sqlite-core')).SQLiteAsyncDialect();
    // Long statements (the searches' index reads) run on the reader's thread; an in-memory database reads in process.
    const read = async (query: SQL): Promise<unknown[][]> => {
      if (!reader) return sqlite.orm.values(query);
      const { sql: text, params } = sqliteDialect.sqlToQuery(query);
      return reader.values(text, params);
    };
    const contains = (column: Column | SQL, text: string) => {
      if (!/^\p{ASCII}*$/u.test(text)) return sql`instr(lower_unicode(${column}), lower_unicode(${text})) > 0`;
      // ASCII text: SQLite's lower() (A–Z only) gives the same answer, without a call into JavaScript per row (2,500
      // names: 1.6 ms instead of 3.1), except in text holding one of the two letters JavaScript lower-cases to ASCII
      // (the Kelvin sign to k, İ to i and a dot above), which takes JavaScript's.
      const lowered = text.toLowerCase();
      return sql`(instr(lower(${column}), ${lowered}) > 0 or ((instr(${column}, ${KELVIN_SIGN}) > 0 or instr(${column}, ${DOTTED_CAPITAL_I}) > 0) and instr(lower_unicode(${column}), ${lowered}) > 0))`;
    };
    const includes = (column: Column | SQL, text: string) => sql`instr(${column}, ${text}) > 0`;
    /** The rows of `table` with these rowids (from an FTS5 index), as one JSON parameter. */
    const rowidsIn = (table: SQLWrapper, rowids: unknown[]) => sql`${table}.rowid in (select value from json_each(${JSON.stringify(rowids)}))`;
    return {
      dialect: 'sqlite',
      source: { kind: 'sqlite', path },
      orm,
      tables,
      readOffThread: reader ? read : null,
      prepared: preparedCache(orm, tables),
      transaction: (fn) => orm.transaction(fn),
      forUpdate: (query) => query,
      contains,
      includes,
      postsSearch: (text) => {
        const { posts } = tables;
        // posts.search is lower() of the text, which folds ASCII only: non-ASCII text takes JavaScript's folding.
        const ascii = isPrintableAscii(text);
        const matches = ascii ? sql`instr(${posts.search}, ${text.toLowerCase()}) > 0` : sql`instr(lower_unicode(${posts.search}), ${text.toLowerCase()}) > 0`;
        // posts_fts holds search without its spaces (migration 0011), as Postgres' index does: asked with a piece of
        // the text keyed the same way (an FTS5 phrase of its trigrams; inside double quotes only `"` is special), it
        // narrows, and `matches` decides.
        const phrase = (piece: string) => `"${searchKeyOf(piece).replaceAll('"', '""')}"`;
        return {
          scan: matches,
          indexed: async (cap) => {
            // A key under three characters has no trigram to ask with (nor, then, any piece of it): `a b` is walked,
            // as is text whose case FTS5 folds otherwise than the test, and non-ASCII text ending in i, which the
            // test finds in an İ that posts_fts holds as FTS5 folds it (db/fts5-fold.ts).
            if (searchKeyLength(text) < TRIGRAM || !fts5FoldsAlike(text) || (!ascii && /i$/i.test(text))) return null;
            const inAll = (rowids: unknown[]) => rowidsIn(posts, rowids);
            const windows = boundaryWindows(text);
            if (windows.length > 0) {
              // Candidates from the text's word boundaries only (`kaxy` of "quokka xylophone"), each tested for the
              // text in the same statement. Two words side by side are far rarer than the trigrams inside each
              // word, whose lists FTS5 reads whole for the whole text's phrase. Keyed without spaces, a boundary's
              // trigrams join the words (`kax`, `axy`): with them kept (` xy`, `ka `) its lists held about 40,000
              // posts each at 1,000,000 posts (1.3–2.3 ms; 0.08–0.4 ms now). Boundaries common themselves (more
              // than SEARCH_CANDIDATES candidates) fall back to the whole text.
              const match = windows.map(phrase).join(' AND ');
              const candidates = await read(
                sql`select ${posts}.rowid, ${matches} from (select rowid from posts_fts where posts_fts match ${match} limit ${sql.raw(String(SEARCH_CANDIDATES + 1))}) as candidate join ${posts} on ${posts}.rowid = candidate.rowid`,
              );
              if (candidates.length <= SEARCH_CANDIDATES) {
                const rowids = candidates.filter(([, found]) => found === 1).map(([rowid]) => rowid);
                return rowids.length > cap ? null : inAll(rowids);
              }
            }
            // The whole text's key: its trigrams' lists intersected, each candidate tested for the text, stopping at
            // cap + 1 matches. FTS5 does not seek to a rowid bound inside a phrase's doclists, so reading the index
            // in rowid ranges costs each range as much as the whole.
            const found = await read(
              sql`select ${posts}.rowid from posts_fts join ${posts} on ${posts}.rowid = posts_fts.rowid where posts_fts match ${phrase(text)} and ${matches} limit ${cap + 1}`,
            );
            return found.length > cap ? null : inAll(found.map(([rowid]) => rowid));
          },
        };
      },
      usersSearch: (text) => {
        const { users } = tables;
        const matches = usersMatching({ includes, contains }, users, text);
        return {
          scan: matches,
          indexed: async (cap) => {
            // users_fts holds the three columns as they are (spaces too): any text of three characters or more
            // whose case FTS5 folds as the test does is a phrase of its trigrams. Each candidate is tested for the
            // text in the same statement; inside double quotes only `"` is special.
            if ([...text].length < TRIGRAM || !fts5FoldsAlike(text)) return null;
            const found = await read(
              sql`select ${users}.rowid from users_fts join ${users} on ${users}.rowid = users_fts.rowid where users_fts match ${`"${text.replaceAll('"', '""')}"`} and ${matches} limit ${cap + 1}`,
            );
            return found.length > cap ? null : rowidsIn(users, found.map(([rowid]) => rowid));
          },
        };
      },
      tableCounts: async () => {
        const rows = await sqlite.orm.values<[string, number]>(sql`select name, value from table_counts`);
        const counts = new Map(rows.map(([name, value]) => [name, Number(value)]));
        const tasks = noTasks();
        for (const status of TASK_STATUSES) tasks[status] = counts.get(`tasks.${status}`) ?? 0;
        return {
          users: { total: counts.get('users') ?? 0, active: counts.get('users.active') ?? 0 },
          posts: { total: counts.get('posts') ?? 0, published: counts.get('posts.published') ?? 0 },
          tasks,
        };
      },
      keptCount: (name) => sql`(select value from table_counts where name = ${name})`,
      announce: (channel, payload) => sql`app_announce(${channel}, ${payload})`,
      rowsOf: (alias, columns, rows) => {
        // Timestamps as the columns store them (milliseconds); `->` keeps JSON as JSON text, `->>` reads scalars.
        const fields = Object.entries<RowsOfType>(columns).map(
          ([name, type]) => `value ${type === 'json' ? '->' : '->>'} '$.${name}' as ${name}`,
        );
        return sql`(select ${sql.raw(fields.join(', '))} from json_each(${rowsJson(alias, columns, rows, (date) => date.getTime())})) as ${sql.raw(alias)}`;
      },
      lazyCommit: undefined,
      listen: bus.listen,
      poolStats: () => null,
      analyze: async () => {
        sqlite.raw.exec('analyze');
      },
      bulkLoadPosts: async (load) => {
        // The insert triggers' own definitions (migrations 0011 and 0009), put back as they were: the loaded posts go
        // into posts_fts in one statement and the posts' counts are counted once instead of being kept row by row.
        const dropped = (name: string) => {
          const definition = sqlite.raw.prepare("select sql from sqlite_master where type = 'trigger' and name = ?").pluck().get(name) as string | undefined;
          if (definition) sqlite.raw.exec(`drop trigger ${name}`);
          return definition;
        };
        const [search, counts] = [dropped('posts_fts_after_insert'), dropped('posts_counts_after_insert')];
        // Each post goes into two indexes at random places (its id, its author's posts): at 1,000,000 posts they
        // outgrow the 64 MiB page cache, and every insert would read pages back. Up to 512 MiB while loading and
        // while posts_fts is built: FTS5 merges the segments it writes as it goes, and with 64 MiB each merge read
        // them back from the WAL, a read() call per page (at 1,000,000 posts 360 s against 42 s).
        const cacheSize = sqlite.raw.pragma('cache_size', { simple: true }) as number;
        sqlite.raw.pragma('cache_size = -524288');
        try {
          return await load();
        } finally {
          try {
            sqlite.raw.transaction(() => {
              if (search) {
                // Every post indexed anew, as the migration fills it (posts_fts is contentless: it has no 'rebuild').
                sqlite.raw.exec("insert into posts_fts(posts_fts) values ('delete-all')");
                // FTS5 writes a segment each time its pending terms pass `hashsize` (1 MiB unless set) and merges
                // segments as it goes: in 64 MiB pieces there are far fewer to merge (31 -> 26 s at 1,000,000 posts).
                sqlite.raw.exec(`insert into posts_fts(posts_fts, rank) values ('hashsize', ${64 * 2 ** 20})`);
                sqlite.raw.exec("insert into posts_fts(rowid, key) select rowid, replace(search, ' ', '') from posts");
                sqlite.raw.exec(`insert into posts_fts(posts_fts, rank) values ('hashsize', ${2 ** 20})`);
                sqlite.raw.exec(search);
              }
              if (counts) {
                sqlite.raw.exec("update table_counts set value = (select count(*) from posts) where name = 'posts'");
                sqlite.raw.exec("update table_counts set value = (select count(*) from posts where published) where name = 'posts.published'");
                sqlite.raw.exec(counts);
              }
            })();
          } finally {
            sqlite.raw.pragma(`cache_size = ${cacheSize}`);
          }
        }
      },
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
      close: async () => {
        await reader?.close();
        sqlite.close();
      },
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
  const contains = (column: Column | SQL, text: string) => sql`${column} ilike ${likePattern(text)} escape '\\'`;
  const includes = (column: Column | SQL, text: string) => sql`strpos(${column}, ${text}) > 0`;
  return {
    dialect: 'postgres',
    source,
    orm,
    tables: pgSchema,
    readOffThread: null,
    prepared: preparedCache(orm, pgSchema),
    transaction: (fn) => orm.transaction(fn),
    forUpdate: (query) => (query as { for: (strength: 'update') => typeof query }).for('update'),
    contains,
    includes,
    postsSearch: (text) => {
      const { posts } = pgSchema;
      // The index holds searchKey(search) (db/schema/search-key.ts): it is asked with a piece of the text keyed
      // the same way, in SQL, so both sides go through the same lower(). The condition on `search` decides.
      const lowered = (piece: string) => sql`lower(${likePattern(piece)})`;
      const narrowedTo = (piece: string) => sql`${searchKey(posts.search)} like ${searchKey(lowered(piece))} escape '\\'`;
      const matches = sql`${posts.search} like ${lowered(text)} escape '\\'`;
      // The ids, as on SQLite: the page and its count then read those rows by key, where the condition itself
      // would have the trigram index searched (and its candidates rechecked) once for each of them again.
      const byIds = (ids: string[]) => sql`${posts.id} = any(${sql.param(ids)}::text[])`;
      return {
        // The same test in a form pg_trgm's index cannot serve: a walk reads a short range of the created_at
        // index and tests its rows (0.5–0.9 ms at 100,000 posts), where the planner would otherwise AND that range
        // with a bitmap of the text's trigrams (1.5–3 ms, and more for commoner trigrams).
        scan: sql`strpos(${posts.search}, lower(${text})) > 0`,
        indexed: async (cap) => {
          // pg_trgm cannot narrow a key under three characters (nor, then, any piece of it): text under three
          // characters other than spaces is walked.
          if (searchKeyLength(text) < TRIGRAM) return null;
          // Candidates from the text's word boundaries first, as on SQLite: pg_trgm reads the posting lists of their
          // few trigrams only, where the whole text has it read every trigram's list whole (`quokka xylophone` at
          // 1,000,000 posts: 0.2 ms against 1.9). Each candidate is tested for the text in the same statement.
          // Boundaries common themselves (more than SEARCH_CANDIDATES candidates), or none to ask with, ask with the
          // whole text instead.
          const windows = boundaryWindows(text);
          if (windows.length > 0) {
            const candidates = await orm
              .select({ id: posts.id, match: sql<boolean>`${matches}` })
              .from(posts)
              .where(and(...windows.map(narrowedTo)))
              .limit(SEARCH_CANDIDATES + 1);
            if (candidates.length <= SEARCH_CANDIDATES) {
              const ids = candidates.filter((candidate) => candidate.match).map((candidate) => candidate.id);
              return ids.length > cap ? null : byIds(ids);
            }
          }
          const found = await orm.select({ id: posts.id }).from(posts).where(and(narrowedTo(text), matches)).limit(cap + 1);
          return found.length > cap ? null : byIds(found.map((row) => row.id));
        },
      };
    },
    usersSearch: (text) => {
      const { users } = pgSchema;
      const [key, lowered] = [usernameKey(text), text.toLowerCase()];
      return {
        // Two of its three tests in a form the trigram indexes cannot serve (strpos), as posts' scan: a walk reads a
        // short range of the created_at index and tests its rows, where the planner could otherwise OR three bitmaps
        // of every match.
        scan: usersMatching({ includes, contains }, users, text),
        indexed: async (cap) => {
          // pg_trgm narrows with a trigram or more: shorter text is walked.
          if ([...text].length < TRIGRAM) return null;
          const like = (column: Column, piece: string) => sql`${column} like ${likePattern(piece)} escape '\\'`;
          const found = await orm
            .select({ id: users.id })
            .from(users)
            .where(or(like(users.usernameKey, key), like(users.email, lowered), contains(users.fullName, text)))
            .limit(cap + 1);
          return found.length > cap ? null : sql`${users.id} = any(${sql.param(found.map((row) => row.id))}::text[])`;
        },
      };
    },
    tableCounts: reused(async () => {
      const { users, tasks } = pgSchema;
      const [[userCounts], [postCounts], taskCounts] = await Promise.all([
        orm.select({ total: count(), active: sql<number>`count(*) filter (where ${users.isActive})`.mapWith(Number) }).from(users),
        orm.select({ total: keptPostgres('posts'), published: keptPostgres('posts.published') }).from(sql`(select 1) as one_row`),
        orm.select({ status: tasks.status, n: count() }).from(tasks).groupBy(tasks.status),
      ]);
      const byStatus = noTasks();
      for (const { status, n } of taskCounts) byStatus[status] = n;
      return { users: userCounts, posts: postCounts, tasks: byStatus };
    }, COUNTS_MAX_AGE_MS),
    keptCount: keptPostgres,
    analyze: async () => {
      await orm.execute(sql`vacuum (analyze)`);
    },
    bulkLoadPosts: async (load) => {
      // The index's own definition (db/schema/pg.ts), put back as it was.
      const found = await orm.execute<{ definition: string }>(sql`select indexdef as definition from pg_indexes where indexname = 'posts_search_trgm_idx'`);
      const definition = found.rows[0]?.definition;
      if (definition) await orm.execute(sql`drop index posts_search_trgm_idx`);
      try {
        return await load();
      } finally {
        if (definition) {
          await orm.transaction(async (tx) => {
            // A build over a large table outlasts the connection's statement_timeout.
            await tx.execute(sql`set local statement_timeout = 0`);
            await tx.execute(sql`set local maintenance_work_mem = '256MB'`);
            await tx.execute(sql.raw(definition));
          });
        }
      }
    },
    announce: (channel, payload) => sql`pg_notify(${channel}, ${payload})`,
    rowsOf: (alias, columns, rows) => {
      const types: Record<RowsOfType, string> = { text: 'text', integer: 'integer', json: 'jsonb', timestamp: 'timestamptz' };
      const fields = Object.entries<RowsOfType>(columns).map(([name, type]) => `${name} ${types[type]}`);
      return sql`jsonb_to_recordset(${rowsJson(alias, columns, rows, (date) => date.toISOString())}::jsonb) as ${sql.raw(`${alias}(${fields.join(', ')})`)}`;
    },
    // set_config is volatile: evaluated for the row the statement writes, so its own transaction commits lazily.
    lazyCommit: sql`set_config('synchronous_commit', 'off', true) is not null`,
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
