// Keyset pages for newest-first lists: opaque cursors over (created_at, id), and totals counted up to a cap.
import { setImmediate } from 'node:timers/promises';
import { and, count, desc, eq, gt, gte, lt, lte, or, sql, type Column, type Placeholder, type SQL, type SQLWrapper } from 'drizzle-orm';
import type { PgTable, SelectedFields } from 'drizzle-orm/pg-core';
import { valueOf, type Database, type Orm, type Tables, type TextSearch } from '../../db/index.ts';
import { AppError } from '../errors.ts';

/**
 * Totals are counted up to this many rows and no further: a count walks an index, so an exact total of a large
 * table would cost in proportion to it. Past the cap a page says `totalIsLowerBound`.
 */
export const TOTAL_CAP = 1000;

/** Where a page starts: after the row with this creation time and id (newest first). */
export type PageKey = { createdAt: Date; id: string };

export type PageRequest = { skip: number; limit: number; cursor?: string | undefined };

export type Page<T> = { items: T[]; total: number; totalIsLowerBound: boolean; nextCursor: string | null };

export function encodeCursor(key: PageKey): string {
  return Buffer.from(`${key.createdAt.getTime()}:${key.id}`).toString('base64url');
}

/** A cursor this service did not hand out is a client error, never a server one. */
export function decodeCursor(cursor: string | undefined): PageKey | undefined {
  if (cursor === undefined) return undefined;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^(\d{1,15}):(.{1,100})$/s.exec(text);
  if (!match) throw new AppError('BAD_REQUEST', 'invalid cursor');
  return { createdAt: new Date(Number(match[1])), id: match[2] };
}

/**
 * A LIMIT or OFFSET of a statement prepared once (db.prepared) whose value comes at each run, written so that
 * Postgres plans the statement once. Postgres plans a prepared statement with each run's values (a custom plan)
 * until a plan without them (the generic one) is estimated no dearer; a plain `limit $n` lets each custom plan
 * count on the few rows asked for, while the generic plan must assume a tenth of the table, so it never looked
 * cheaper and every `posts.list` was planned anew: 0.2 ms of Postgres CPU for 0.45 ms of execution, about a third
 * of Postgres' CPU under `posts.list` load (perf: `GetCachedPlan` → `pg_plan_queries`). As `(select cast($n as bigint))` neither
 * plan knows the value, so from the sixth run on Postgres reuses the generic plan, the same plan as before.
 * SQLite plans every prepared statement once anyway (db/sqlite-plan-once.ts). drizzle types `.limit()` and
 * `.offset()` as a number or a placeholder; at run time it writes any SQL it is given there as it is.
 */
export const plannedOnce = (value: Placeholder): Placeholder => sql`(select cast(${value} as bigint))` as unknown as Placeholder;

/**
 * Where a prepared newest-first list's page starts and how long it is, as placeholders (the values come at each run,
 * from pageValues): after the key (createdAt, id) when the shape has a cursor, LIMIT and OFFSET planned once.
 */
export function pagePlaceholders(columns: { createdAt: Column }) {
  return {
    key: { createdAt: valueOf('createdAt', columns.createdAt), id: sql.placeholder('id') } satisfies PageKeyOf,
    limit: plannedOnce(sql.placeholder('limit')),
    offset: plannedOnce(sql.placeholder('offset')),
  };
}

/** pagePlaceholders' values for a request: one row more than the page, to tell whether there is a next one. */
export const pageValues = (request: PageRequest, key: PageKey | undefined) => ({ createdAt: key?.createdAt ?? null, id: key?.id ?? '', limit: request.limit + 1, offset: request.skip });

/** Which statement of a list runs: where its page starts (after a cursor, or skipping rows). */
export type PagingShape = { cursor: boolean; skip: boolean };

/**
 * A newest-first list's statements, prepared once per database under `name`: the page with its capped total (one
 * round trip), and the total alone, for a page past the end that has no row to carry it. `where` may hold
 * placeholders; the page's own come from pageValues.
 */
export function newestFirstStatements<TTable extends PgTable & { createdAt: Column; id: Column }, TColumns extends SelectedFields>(
  db: Database,
  name: string,
  shape: PagingShape,
  table: (tables: Tables) => TTable,
  columns: (tables: Tables) => TColumns,
  where: (tables: Tables) => SQL | undefined,
) {
  const page = db.prepared(`${name}_page`, (orm, tables) => {
    const source = table(tables);
    // As a plain table: drizzle cannot check a generic one against its conditional type for `from`.
    const from: PgTable = source;
    const { key, limit, offset } = pagePlaceholders(source);
    const select = orm
      .select({ ...columns(tables), total: cappedCountColumn(orm, from, where(tables)) })
      .from(from)
      .where(and(where(tables), shape.cursor ? after(source, key) : undefined))
      .orderBy(desc(source.createdAt), desc(source.id))
      .limit(limit);
    return shape.skip ? select.offset(offset) : select;
  });
  const total = db.prepared(`${name}_total`, (orm, tables) => cappedCountQuery(orm, table(tables), where(tables)));
  return { page, total };
}

/**
 * A filter's value written into a prepared statement as a constant, one statement per value: for a column of a few
 * values whose rows are unevenly spread (a task's status, a user's role), Postgres' plan without the value would
 * guess an average share, dearer than its plans with the value, and so plan every run anew (plannedOnce). Only for
 * values from a closed list the schema checks (never text from a request as such).
 */
export function fixedValue<V extends string | boolean>(column: Column, value: V, allowed: readonly V[]): SQL {
  if (!allowed.includes(value)) throw new Error(`not a value of ${column.name}: ${String(value)}`);
  return sql`${column} = ${sql.raw(typeof value === 'boolean' ? String(value) : `'${value}'`)}`;
}

/** The count's cap as a constant of the statement, not a parameter: the same value at every run (plannedOnce). */
const countCap = sql.raw(String(TOTAL_CAP + 1)) as unknown as Placeholder;

/** A page key, or placeholders for one in a prepared statement. */
export type PageKeyOf = { createdAt: Date | SQL; id: string | SQL | Placeholder };

/**
 * Rows after `key` in (created_at desc, id desc) order. Written as a range on created_at plus a tie-break, so
 * both dialects walk their (…, created_at, id) indexes from the key.
 */
export function after(columns: { createdAt: Column; id: Column }, key: PageKeyOf | undefined): SQL | undefined {
  if (!key) return undefined;
  return and(lte(columns.createdAt, key.createdAt), or(lt(columns.createdAt, key.createdAt), and(eq(columns.createdAt, key.createdAt), lt(columns.id, key.id))));
}

/**
 * Matching rows counted up to TOTAL_CAP + 1 and no further (the count stops walking there). `atLeast`: a count
 * the database keeps (db.keptCount) of rows that all match; above the cap, no row is counted.
 */
export async function cappedCount(orm: Orm, table: PgTable, where: SQL | undefined, atLeast?: SQL | null): Promise<number> {
  const [{ n }] = await cappedCountQuery(orm, table, where, atLeast);
  return n;
}

/** cappedCount's query, to run or to prepare. */
export function cappedCountQuery(orm: Orm, table: PgTable, where: SQL | undefined, atLeast?: SQL | null) {
  const capped = orm.select({ one: sql`1`.as('one') }).from(table).where(where).limit(countCap).as('capped');
  if (!atLeast) return orm.select({ n: count() }).from(capped);
  // CASE evaluates its branches lazily: the count's subquery runs only when the kept count is at most the cap.
  return orm
    .select({ n: sql<number>`case when ${atLeast} > ${sql.raw(String(TOTAL_CAP))} then ${sql.raw(String(TOTAL_CAP + 1))} else (select count(*) from ${capped}) end`.mapWith(Number) })
    .from(sql`(select 1) as one_row`);
}

/**
 * cappedCount as a column of the page's own statement: the subquery does not depend on the row, so both databases
 * count once per statement, and a page with its total costs one round trip.
 */
export function cappedCountColumn(orm: Orm, table: PgTable, where: SQL | undefined, atLeast?: SQL | null): SQL<number> {
  return sql<number>`(${cappedCountQuery(orm, table, where, atLeast)})`.mapWith(Number);
}

/**
 * toPage for rows that carry the list's capped total (cappedCountColumn). A page with no row has nothing to carry
 * it: at the start the list is empty, past it (a cursor or a skip) the total is counted on its own.
 */
export async function toCountedPage<T extends { createdAt: Date; id: string; total: number }>(
  rows: T[],
  request: PageRequest,
  countAlone: () => Promise<number>,
): Promise<Page<Omit<T, 'total'>>> {
  const pastStart = request.cursor !== undefined || request.skip > 0;
  const counted = rows.length > 0 ? rows[0].total : pastStart ? await countAlone() : 0;
  return toPage(rows.map(({ total: _, ...item }) => item), request.limit, totalOf(counted));
}

/** A page from `limit` + 1 rows read: the extra row only says whether there is a next page. */
export function toPage<T extends { createdAt: Date; id: string }>(rows: T[], limit: number, total: { total: number; totalIsLowerBound: boolean }): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, ...total, nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}

/** What a capped count says: exact below the cap, a lower bound at it. */
export function totalOf(counted: number, cap = TOTAL_CAP): { total: number; totalIsLowerBound: boolean } {
  return counted > cap ? { total: cap, totalIsLowerBound: true } : { total: counted, totalIsLowerBound: false };
}

/** Rows a walk reads per query: each query stays short, and other requests run between them. */
export const WALK_CHUNK = 1000;

/**
 * On SQLite where a walk's statements run on the request thread (an in-memory database: a file's walks run on the
 * reader's thread), how long one chunk of a walk (its two queries) may hold the process before the walk's next chunks
 * shrink (walkNewestFirst's `budget`). In a settled process a 1,000-post chunk of a 2-character search takes
 * about 1.7 ms at 100,000 posts, well inside it. In a process just started the same chunks took 7–19 ms: SQLite's
 * page cache still filling from the file, the job queue's thread warming up beside it on a 2-core machine. At a
 * fixed 1,000 rows such a chunk, with a collection in the same turn, held the event loop past its 20 ms.
 */
export const WALK_BUDGET_MS = 5;

/**
 * A walk's time budget (`ms` per chunk) and, per table, the size the last walk's first chunk said the next walk's
 * first chunk should have (`first`): among the newest rows, the ones lists keep in the page cache.
 */
export type WalkBudget = { ms: number; first: Map<PgTable, number> };

const budgets = new WeakMap<Database, WalkBudget>();

/**
 * A database's walk budget where it holds the caller's thread while a query runs (SQLite; searchNewestFirst takes
 * none on a file, whose walks run on the reader's thread); elsewhere none.
 */
export function walkBudget(db: Database): WalkBudget | undefined {
  if (db.dialect !== 'sqlite') return undefined;
  let budget = budgets.get(db);
  if (!budget) budgets.set(db, (budget = { ms: WALK_BUDGET_MS, first: new Map() }));
  return budget;
}

/**
 * The ids of the rows matching `matches` (a condition tested row by row), newest first after `key`, found by
 * walking `base`'s rows down a (…, created_at, id) index in chunks of WALK_CHUNK, yielding to the event loop
 * between chunks (on SQLite a query holds the process). Stops at `skip` + `limit` + 1 matches or the end.
 * Each chunk is two queries: its last row's key, read from the index alone, then the matches between the two
 * keys, which stops at the matches still wanted: common text is tested on the rows up to its last match, not on
 * the whole chunk, and only matches come back.
 * Cost: rows walked ≈ matches wanted ÷ the share of rows that match; the end of the rows for a rare condition.
 * With a `budget` (walkBudget: where a query holds the thread), each chunk's time sets the next one's size: in
 * proportion to the budget over the time taken, between a tenth of `chunk` and `chunk`. So a chunk that ran slow
 * (rows not in the page cache, the machine busy elsewhere) is followed by smaller ones, and the size grows back
 * once chunks run fast again. A walk's first chunk has the size the table's last walk's first chunk gave
 * (`budget.first`), a quarter of `chunk` before any: most searches end in that chunk (common text), so in a settled
 * process it is whole (each further chunk costs two more statements: starting every walk at a quarter cost common
 * text's search at 50 callers 1,475 -> 1,080 calls/s), while a process just started begins small.
 * A walk that has tested `maxRows` rows stops there and returns `resume`, which another walk of the same request
 * takes to go on from there. With a budget that walk starts at a quarter of `chunk`: the newest rows are the ones
 * lists keep in the page cache, and the rows past them cost up to ten times as much (a 1,000-row chunk at
 * 1,000,000 posts 1.7 ms among the newest, 15 ms just past them, in a process just started).
 * With `offThread` (Database.readOffThread: a SQLite file) each chunk's statements run on the reader's thread
 * instead, at the set size: they hold no request there, however long the rows take to read, and a budget has nothing
 * to keep.
 * `chunks`: the chunks it took.
 */
export async function walkNewestFirst(
  orm: Orm,
  table: PgTable,
  columns: { createdAt: Column; id: Column },
  base: SQL | undefined,
  matches: SQL,
  key: PageKey | undefined,
  request: { skip: number; limit: number },
  options: { chunk?: number; maxRows?: number; resume?: WalkResume | null; budget?: WalkBudget | undefined; offThread?: Database['readOffThread'] } = {},
): Promise<{ ids: string[]; seen: number; complete: boolean; answered: boolean; resume: WalkResume | null; chunks: number }> {
  const { chunk = WALK_CHUNK, maxRows = Number.POSITIVE_INFINITY, budget, offThread } = options;
  const wanted = request.skip + request.limit + 1;
  const newestFirst = [desc(columns.createdAt), desc(columns.id)];
  const keyOf = { id: sql<string>`${columns.id}`, createdAt: sql<Date>`${columns.createdAt}`.mapWith(columns.createdAt) as SQL<Date> };
  const hits: string[] = [...(options.resume?.hits ?? [])];
  let from = options.resume?.from ?? key;
  let complete = false;
  let resume: WalkResume | null = null;
  const quarter = Math.ceil(chunk / 4);
  let size = !budget ? chunk : options.resume ? quarter : Math.min(chunk, budget.first.get(table) ?? quarter);
  let chunks = 0;
  for (let tested = 0; ; ) {
    chunks++;
    const rows = Math.min(size, maxRows - tested);
    const started = performance.now();
    // The chunk's last row; none when fewer than `rows` rows are left.
    const lastRow = orm
      .select(keyOf)
      .from(table)
      .where(and(base, after(columns, from)))
      .orderBy(...newestFirst)
      .limit(1)
      .offset(rows - 1);
    const [last] = offThread
      ? (await offThread(lastRow.getSQL())).map(([id, createdAt]): PageKey => ({ id: String(id), createdAt: columns.createdAt.mapFromDriverValue(createdAt) as Date }))
      : await lastRow;
    const matching = orm
      .select({ id: keyOf.id })
      .from(table)
      .where(and(base, after(columns, from), last ? upTo(columns, last) : undefined, matches))
      .orderBy(...newestFirst)
      .limit(wanted - hits.length);
    const found = offThread ? (await offThread(matching.getSQL())).map(([id]) => ({ id: String(id) })) : await matching;
    if (budget) {
      size = nextChunkSize(rows, performance.now() - started, budget.ms, chunk);
      if (chunks === 1 && !options.resume) budget.first.set(table, size);
    }
    tested += rows;
    for (const row of found) hits.push(row.id);
    if (hits.length === wanted) break;
    if (!last) {
      complete = true;
      break;
    }
    if (tested >= maxRows) {
      resume = { from: last, hits: [...hits] };
      break;
    }
    from = last;
    await setImmediate();
  }
  // answered: the page is known (full, or the rows ended); otherwise maxRows ran out first, and `resume` says
  // where the walk goes on.
  return { ids: hits.slice(request.skip), seen: hits.length, complete: complete && key === undefined, answered: complete || hits.length === wanted, resume, chunks };
}

/** Where a walk that reached its `maxRows` goes on: after `from` (the last row it tested), with the matches it found. */
export type WalkResume = { from: PageKey; hits: string[] };

/**
 * The next chunk's size after one of `size` rows took `elapsedMs`: in proportion to the budget, between a tenth of
 * `max` (smaller, a query's fixed cost would outweigh its rows) and `max`.
 */
export function nextChunkSize(size: number, elapsedMs: number, budgetMs: number, max: number): number {
  const least = Math.ceil(max / 10);
  if (!(elapsedMs > 0)) return max;
  return Math.max(least, Math.min(max, Math.round((size * budgetMs) / elapsedMs)));
}

/** Rows up to and including `key` in (created_at desc, id desc) order: the other end of `after`'s range. */
function upTo(columns: { createdAt: Column; id: Column }, key: PageKey): SQL | undefined {
  return and(gte(columns.createdAt, key.createdAt), or(gt(columns.createdAt, key.createdAt), and(eq(columns.createdAt, key.createdAt), gte(columns.id, key.id))));
}

/** A walk's total: exact when it saw every matching row (from the start to the end), else what it saw. */
export function walkTotal(walk: { seen: number; complete: boolean }): { total: number; totalIsLowerBound: boolean } {
  return walk.complete ? totalOf(walk.seen) : { total: Math.min(walk.seen, TOTAL_CAP), totalIsLowerBound: true };
}

/**
 * A page's ids first, from the index alone where it covers the filter: skipped rows cost an index step each, not
 * a row read (and, for posts, an author lookup).
 */
export function pageIds(
  orm: Orm,
  table: PgTable & { createdAt: Column; id: Column },
  where: SQL | undefined,
  key: PageKeyOf | undefined,
  limit: number | Placeholder,
  offset: number | Placeholder,
) {
  // As a plain table: drizzle cannot check a generic one against its conditional type for `from`.
  const from: PgTable = table;
  return orm
    .select({ id: sql<string>`${table.id}` })
    .from(from)
    .where(and(where, after(table, key)))
    .orderBy(desc(table.createdAt), desc(table.id))
    .limit(limit)
    .offset(offset);
}

/**
 * A newest-first page of `base`'s rows that `search` finds. The newest WALK_CHUNK rows are tested first: common
 * text fills the page there without asking the index (on Postgres a trigram index answers common text with a bitmap
 * of every match). Else text found in at most TOTAL_CAP rows is read from the index: the page and, riding along as
 * in a list without text, its capped count, in one statement. Commoner text, and text the index cannot be asked
 * with (under three characters), is walked on from there (walkNewestFirst), `options.chunk` rows per query.
 * `read.walked` reads a walk's rows by id, newest first; `read.indexed` the rows whose ids the given subquery
 * selects, newest first, with `total` as a column.
 */
export async function searchNewestFirst<T extends { createdAt: Date; id: string }>(
  db: Database,
  table: PgTable & { createdAt: Column; id: Column },
  base: SQL | undefined,
  search: TextSearch,
  request: PageRequest,
  read: { walked: (ids: string[]) => Promise<T[]>; indexed: (ids: SQLWrapper, total: SQL<number>) => Promise<(T & { total: number })[]> },
  options: { chunk?: number } = {},
): Promise<Page<T>> {
  const { orm } = db;
  const key = decodeCursor(request.cursor);
  const walked = async (walk: { ids: string[]; seen: number; complete: boolean }) =>
    toPage(walk.ids.length === 0 ? [] : await read.walked(walk.ids), request.limit, walkTotal(walk));
  // On a SQLite file the walk's statements run on the reader's thread: rows not in the page cache (on a machine just
  // started, not in the OS's either) hold no request while they are read. Elsewhere they run here, sized by time
  // where they hold this thread (an in-memory SQLite database).
  const walkOn = db.readOffThread ? { offThread: db.readOffThread } : { budget: walkBudget(db) };
  const first = await walkNewestFirst(orm, table, table, base, search.scan, key, request, { maxRows: WALK_CHUNK, ...walkOn });
  if (first.answered) return walked(first);
  const indexed = await search.indexed(TOTAL_CAP);
  if (indexed) {
    const where = and(base, indexed);
    const rows = await read.indexed(pageIds(orm, table, where, key, request.limit + 1, request.skip), cappedCountColumn(orm, table, where));
    // T has no `total` of its own: without the one added here, a row is a T.
    return (await toCountedPage(rows, request, () => cappedCount(orm, table, where))) as unknown as Page<T>;
  }
  // On from the newest chunk's end, not from the start again.
  return walked(await walkNewestFirst(orm, table, table, base, search.scan, key, request, { ...options, resume: first.resume, ...walkOn }));
}
