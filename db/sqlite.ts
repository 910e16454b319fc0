// SQLite through better-sqlite3 behind drizzle's async proxy driver, with transactions that never interleave.
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { drizzle, type SqliteRemoteDatabase } from 'drizzle-orm/sqlite-proxy';
import { migrate } from 'drizzle-orm/sqlite-proxy/migrator';
import type { Logger as DrizzleLogger } from 'drizzle-orm';
import * as sqliteSchema from './schema/sqlite.ts';
import { planOnce } from './sqlite-plan-once.ts';
import { defineLowerUnicode } from './sqlite-lower-unicode.ts';

type SqliteOrm = SqliteRemoteDatabase<typeof sqliteSchema>;
type Method = 'run' | 'all' | 'values' | 'get';
type Statement = BetterSqlite3.Statement<unknown[]>;

const STATEMENT_CACHE_SIZE = 500;

/**
 * One better-sqlite3 connection is shared by every request. Statements run synchronously, but a
 * transaction spans awaits, so while one is open every statement from another async context waits
 * until it ends; otherwise it would run inside that transaction and share its commit or rollback.
 */
export type SqliteHandle = {
  orm: SqliteOrm;
  /** SQL function `app_announce(channel, payload)`: heard by `onAnnounce` once the change commits. */
  onAnnounce(deliver: (channel: string, payload: string) => void): void;
  raw: BetterSqlite3.Database;
  migrate(folder: string): Promise<void>;
  close(): void;
};

/**
 * How often `PRAGMA optimize` runs: it analyzes again each table this connection used whose size changed about
 * tenfold since its statistics (0.06–0.3 ms when none did; 66 ms for a table grown to 1,000,000 rows, once).
 * Statistics of a table with one row (a new install's first stop analyzes it) make a lookup by primary key a
 * scan of the whole table, on every request, until they are refreshed: 76 ms per session lookup at 1,000,000
 * sessions, measured. Hourly, as before, left that for up to an hour.
 */
export const OPTIMIZE_INTERVAL_MS = 60_000;

export function openSqlite(path: string, logger: DrizzleLogger): SqliteHandle {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const raw = new BetterSqlite3(path);
  if (path !== ':memory:') {
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = NORMAL');
  }
  raw.pragma('foreign_keys = ON');
  // Up to 64 MiB of pages cached (the default is 2 MiB): at 1,000,000 posts a page of a list, a search walk or
  // a bulk insert into the random-keyed indexes touches far more than that. Memory is taken only as pages are read.
  raw.pragma('cache_size = -65536');
  defineLowerUnicode(raw);
  raw.pragma('busy_timeout = 5000');
  // Announcements (db.announce) made by the statement running now; kept until it has run and, inside a
  // transaction, until that commits. A statement or transaction that fails announces nothing.
  let announced: [string, string][] = [];
  let deliver: (channel: string, payload: string) => void = () => {};
  raw.function('app_announce', { deterministic: false }, (channel: unknown, payload: unknown) => {
    announced.push([String(channel), String(payload)]);
    return null;
  });
  let heldForCommit: [string, string][] = [];
  const flush = (items: [string, string][]) => {
    for (const [channel, payload] of items) deliver(channel, payload);
  };
  // Index choice depends on table statistics; without them SQLite can pick an index that is 1000x slower
  // (an author's posts through the published index, say). Gather them now and refresh them every minute.
  raw.pragma('optimize = 0x10002');
  const optimizer = setInterval(() => raw.open && raw.pragma('optimize'), OPTIMIZE_INTERVAL_MS);
  optimizer.unref();

  const statements = new Map<string, Statement>();
  const prepare = (text: string): Statement => {
    let statement = statements.get(text);
    if (statement) {
      // Refresh its position so the map's insertion order doubles as least-recently-used order.
      statements.delete(text);
    } else {
      statement = raw.prepare<unknown[]>(planOnce(text));
      if (statement.reader) statement.raw(true);
      if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value as string);
    }
    statements.set(text, statement);
    return statement;
  };

  const transactions = new AsyncLocalStorage<symbol>();
  let owner: symbol | null = null;
  let ended: Promise<void> = Promise.resolve();

  const execute = async (text: string, params: unknown[], method: Method): Promise<{ rows: unknown[] }> => {
    while (owner !== null && transactions.getStore() !== owner) await ended;
    const statement = prepare(text);
    const values = params.map(toSqliteValue);
    announced = [];
    let rows: unknown[];
    try {
      if (!statement.reader) {
        statement.run(...values);
        rows = [];
      } else if (method === 'get') rows = statement.get(...values) as unknown[];
      else rows = statement.all(...values);
    } catch (error) {
      announced = [];
      throw error;
    }
    const made = announced;
    announced = [];
    if (made.length > 0 && owner !== null) heldForCommit.push(...made);
    else if (made.length > 0) flush(made);
    return { rows };
  };

  const orm = drizzle(execute, { schema: sqliteSchema, logger });
  const unsafeTransaction = orm.transaction.bind(orm);
  const transaction: SqliteOrm['transaction'] = async (fn, config) => {
    if (owner !== null && transactions.getStore() === owner) {
      throw new Error('db.transaction() called inside a transaction; use the tx argument (tx.transaction for a savepoint)');
    }
    while (owner !== null) await ended;
    const token = Symbol('transaction');
    owner = token;
    let end = () => {};
    ended = new Promise((resolve) => (end = resolve));
    heldForCommit = [];
    let committed = false;
    try {
      const result = await transactions.run(token, () => unsafeTransaction(fn, config));
      committed = true;
      return result;
    } finally {
      const held = heldForCommit;
      heldForCommit = [];
      owner = null;
      end();
      if (committed) flush(held);
    }
  };
  orm.transaction = transaction;

  return {
    orm,
    raw,
    onAnnounce: (listener) => {
      deliver = listener;
    },
    migrate: (folder) =>
      migrate(
        orm,
        async (queries) => {
          // A migration that fills an index from a large table (0011's posts_fts, 0012's users_fts) outgrows the
          // 64 MiB page cache; FTS5 then reads back each segment it merges a page at a time (building posts_fts at
          // 1,000,000 posts: 360 s with 64 MiB, 42 s with 512). The pages are given back when it is set back.
          const cacheSize = raw.pragma('cache_size', { simple: true }) as number;
          raw.pragma('cache_size = -524288');
          try {
            raw.transaction(() => {
              for (const query of queries) raw.exec(query);
            })();
          } finally {
            raw.pragma(`cache_size = ${cacheSize}`);
          }
        },
        { migrationsFolder: folder },
      ),
    close: () => {
      clearInterval(optimizer);
      statements.clear();
      if (raw.open) {
        raw.pragma('optimize');
        raw.close();
      }
    },
  };
}

/** better-sqlite3 binds only numbers, strings, bigints, buffers and null. */
function toSqliteValue(value: unknown): unknown {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Date) return value.getTime();
  if (value === undefined) return null;
  return value;
}
