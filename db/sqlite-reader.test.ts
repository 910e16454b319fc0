// Search's index read off the event loop: on a SQLite file the trigram index is read by a second, read-only
// connection on a thread (db/sqlite-reader.ts). Its answers are the index's, and it sees every committed change at
// once, as the connection that made it does; on Postgres the same answers come from pg_trgm.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { newId, openDatabase, SEARCH_CANDIDATES, wordBoundaryWindows, type Database } from './index.ts';
import { openSqliteReader } from './sqlite-reader.ts';
import { dialects } from '../server/testing/harness.ts';
import { openTestDatabase } from '../server/testing/database.ts';
import { bound } from '../server/testing/plans.ts';
import { searchNewestFirst, WALK_CHUNK } from '../server/services/pages.ts';

const scratch = mkdtempSync(join(tmpdir(), 'abs-sqlite-reader-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.each(dialects)('the trigram index read for a search on %s', (dialect) => {
  let db: Database;
  const authorId = newId();
  beforeAll(async () => {
    if (dialect === 'sqlite') {
      // A file, as the embedded default has: an in-memory database is read on its own connection instead.
      db = await openDatabase({ url: `file:${join(scratch, 'app.db')}` });
      await db.migrate();
    } else db = await openTestDatabase('postgres');
    const now = new Date();
    await db.orm.insert(db.tables.users).values({ id: authorId, username: `reader_${dialect}`, email: `reader_${dialect}@example.com`, passwordHash: 'x', createdAt: now, updatedAt: now });
  });
  afterAll(async () => {
    await db?.close();
  });

  /** The posts the index finds for `text` (at most `cap`), by title; null when more than `cap` match. */
  async function found(text: string, cap = 10): Promise<string[] | null> {
    const { posts } = db.tables;
    const indexed = await db.postsSearch(text).indexed(cap);
    if (!indexed) return null;
    const rows = await db.orm.select({ title: posts.title }).from(posts).where(indexed);
    return rows.map((row) => row.title).sort();
  }

  async function insert(title: string, body: string): Promise<string> {
    const id = newId();
    const now = new Date();
    await db.orm.insert(db.tables.posts).values({ id, authorId, title, body, published: true, createdAt: now, updatedAt: now });
    return id;
  }

  it('finds a substring in titles and bodies, case-insensitively, and sees each committed change at once', async () => {
    const first = await insert('Quokka Xylophone', 'a title match');
    await insert('other', 'the body says quokka xylophone');
    await insert('near miss', 'quokka and xylophone, apart');
    expect(await found('quokka xylophone')).toEqual(['Quokka Xylophone', 'other']);

    await db.orm.update(db.tables.posts).set({ body: 'now a QUOKKA XYLOPHONE too' }).where(eq(db.tables.posts.title, 'near miss'));
    expect(await found('quokka xylophone')).toEqual(['Quokka Xylophone', 'near miss', 'other']);
    await db.orm.delete(db.tables.posts).where(inArray(db.tables.posts.id, [first]));
    expect(await found('quokka xylophone')).toEqual(['near miss', 'other']);
    expect(await found('quokka xylophone', 1)).toBeNull();
    expect(await found('no such words')).toEqual([]);
  });

  it('reads candidates from the word boundaries, tests the text on them, and asks for the whole phrase when those are common', async () => {
    const tag = `zq${dialect}`;
    const text = `quokka xylophone ${tag}`;
    // Each holds every boundary of the text ("ka xy", "ne zq"), in one column or across both, but not the text.
    await insert('bazooka xylem', `one ${tag}`);
    await insert('the quokka', `bazooka xylophone ${tag}`);
    await insert(`${tag} found`, `the ${text}`);
    expect(await found(text)).toEqual([`${tag} found`]);
    // More posts share the boundaries than a search reads as candidates: the text's phrase answers instead.
    const { posts } = db.tables;
    const now = new Date();
    const common = Array.from({ length: SEARCH_CANDIDATES + 1 }, (_, i) => ({ id: newId(), authorId, title: `bazooka xylem ${i}`, body: `one ${tag}`, published: true, createdAt: now, updatedAt: now }));
    await db.orm.insert(posts).values(common);
    expect(await found(text)).toEqual([`${tag} found`]);
    await insert(`${tag} second`, `${text} again`);
    expect(await found(text, 1)).toBeNull();
    expect(await found(text, 2)).toEqual([`${tag} found`, `${tag} second`]);
    await db.orm.delete(posts).where(inArray(posts.id, common.map((post) => post.id)));
  });

  it('narrows text of several words by the trigrams across its spaces, not to every post that holds each word', async () => {
    const tag = `zr${dialect}`;
    const text = `quokka xylophone ${tag}`;
    // Posts that hold every word of the text, but apart: before the index took trigrams across spaces (Postgres'
    // pg_trgm takes them inside words only), each of them was a candidate rechecked row by row.
    const { posts } = db.tables;
    const now = new Date();
    const apart = Array.from({ length: 40 }, (_, i) => ({ id: newId(), authorId, title: `quokka and xylophone ${i}`, body: `and ${tag}`, published: true, createdAt: now, updatedAt: now }));
    await db.orm.insert(posts).values(apart);
    await insert(`${tag} phrase`, `the ${text}`);
    // The text split between title and body is no match either (search keeps a separator between them).
    await insert('Quokka Xylophone', `${tag.toUpperCase()} in capitals`);
    const ran: { text: string; params: unknown[] }[] = [];
    const stop = db.onQuery((statement, params) => ran.push({ text: statement, params }));
    expect(await found(text)).toEqual([`${tag} phrase`]);
    stop();
    if (dialect === 'sqlite') {
      // FTS5 reads a phrase's trigram lists whole: the boundary's must be its own (`kax`, `axy`), not the lists of
      // every word ending in "ka" or starting with "xy" (`ka `, ` xy`), which hold about 40,000 posts each at
      // 1,000,000 posts. So the index holds no trigram with a space in it.
      const sqlite = db.orm as unknown as { run: (query: SQL) => Promise<unknown>; values: (query: SQL) => Promise<unknown[][]> };
      await sqlite.run(sql`create virtual table if not exists temp.posts_fts_terms using fts5vocab(main, posts_fts, row)`);
      expect(await sqlite.values(sql`select term from temp.posts_fts_terms where term in ('kax', 'axy', 'ka ', ' xy')`)).toEqual([['axy'], ['kax']]);
    }
    if (dialect === 'postgres') {
      // The statement that asked the index with the text's word boundaries ("ka xy", "ne zr"), and what the index
      // handed it: the rows its bitmap held, those the heap scan returned and those its recheck dropped.
      const probe = ran.find((statement) => statement.params.includes('%ka xy%') && statement.params.includes(`%ne ${tag.slice(0, 2)}%`));
      expect(probe, JSON.stringify(ran)).toBeDefined();
      const plan = await db.transaction(async (tx) => {
        // A few dozen rows: the planner would rather read the table or walk a btree than ask the trigram index,
        // which is what is measured here; bitmap scans are all that is left it.
        await tx.execute(sql`set local enable_seqscan = off`);
        await tx.execute(sql`set local enable_indexscan = off`);
        const result = await tx.execute<{ 'QUERY PLAN': string }>(sql`explain analyze ${bound(probe!.text, probe!.params)}`);
        return result.rows.map((row) => row['QUERY PLAN']).join('\n');
      });
      const returned = Number(/Bitmap Heap Scan on posts .*actual time=\S+ rows=(\d+)/.exec(plan)?.[1]);
      const rechecked = Number(/Rows Removed by Index Recheck: (\d+)/.exec(plan)?.[1] ?? 0);
      // The post that holds the text, not the 40 that hold its words.
      expect(returned + rechecked, plan).toBe(1);
    }
    await db.orm.delete(posts).where(inArray(posts.id, apart.map((post) => post.id)));
  });

  it('walks the posts for text the index cannot answer with a brute-force filter’s answers, off the request thread on SQLite', async () => {
    const { posts } = db.tables;
    const walker = newId();
    const now = new Date();
    await db.orm.insert(db.tables.users).values({ id: walker, username: `walker_${dialect}`, email: `walker_${dialect}@example.com`, passwordHash: 'x', createdAt: now, updatedAt: now });
    // More posts than a walk's first chunk (it goes on past the newest), pairs of them created at the same
    // millisecond; two characters (no trigram: walked), not ASCII, in either case.
    const base = Date.UTC(2035, 0, 1);
    const rows = Array.from({ length: WALK_CHUNK * 2 + 300 }, (_, i) => ({
      id: newId(),
      authorId: walker,
      title: `walked ${i}`,
      body: i % 97 === 0 ? `has ${i % 2 ? 'Ж9' : 'ж9'} in it` : 'nothing',
      published: true,
      createdAt: new Date(base + Math.floor(i / 2)),
      updatedAt: now,
    }));
    for (let i = 0; i < rows.length; i += 500) await db.orm.insert(posts).values(rows.slice(i, i + 500));
    const newestFirst = [...rows].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : -1));
    const expected = newestFirst.filter((row) => row.body.toLowerCase().includes('ж9')).map((row) => row.id);
    const where = eq(posts.authorId, walker);
    const byId = (ids: string[]) => db.orm.select({ id: posts.id, createdAt: posts.createdAt }).from(posts).where(and(where, inArray(posts.id, ids))).orderBy(desc(posts.createdAt), desc(posts.id));
    const search = (request: { skip: number; limit: number; cursor?: string }) =>
      searchNewestFirst(db, posts, where, db.postsSearch('ж9'), request, { walked: byId, indexed: () => Promise.reject(new Error('two characters are walked')) });

    const ran: string[] = [];
    const stop = db.onQuery((statement) => ran.push(statement));
    const first = await search({ skip: 0, limit: 5 });
    stop();
    expect(first.items.map((row) => row.id)).toEqual(expected.slice(0, 5));
    // On a SQLite file the walk's statements run on the reader's connection: this one reads the page's rows by id,
    // nothing else. On Postgres (and an in-memory SQLite database) they run on the connection itself.
    expect(db.readOffThread === null).toBe(dialect === 'postgres');
    if (dialect === 'sqlite') expect(ran).toHaveLength(1);
    else expect(ran.length).toBeGreaterThan(2);

    // Every page, following the cursor, and a page after skipped rows: the brute-force filter's rows, in its order.
    const seen: string[] = [];
    for (let cursor: string | undefined, pages = 0; pages < 100; pages++) {
      const page = await search({ skip: 0, limit: 4, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((row) => row.id));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    expect(seen).toEqual(expected);
    // Walked to the end from the start: the total is exact.
    const skipped = await search({ skip: 17, limit: 50 });
    expect({ ids: skipped.items.map((row) => row.id), total: skipped.total, lower: skipped.totalIsLowerBound }).toEqual({ ids: expected.slice(17), total: expected.length, lower: false });
    expect((await searchNewestFirst(db, posts, where, db.postsSearch('q9'), { skip: 0, limit: 5 }, { walked: byId, indexed: () => Promise.reject(new Error('walked')) })).items).toEqual([]);
  });

  it('answers many searches at once, each with its own answer', async () => {
    const words = Array.from({ length: 20 }, (_, i) => `marsupial${String(i).padStart(2, '0')}`);
    for (const word of words) await insert(`about ${word}`, `${word} lives here`);
    const answers = await Promise.all(words.map((word) => found(word)));
    expect(answers).toEqual(words.map((word) => [`about ${word}`]));
  });
});

describe('the SQLite reader thread', () => {
  const path = join(scratch, 'reader.db');
  beforeAll(async () => {
    const db = await openDatabase({ url: `file:${path}` });
    await db.migrate();
    await db.close();
  });

  it('returns rows as arrays, rejects with SQLite’s error code, and refuses statements once closed', async () => {
    const reader = openSqliteReader(path);
    expect(await reader.values('select ? + 1, ?', [41, 'text'])).toEqual([[42, 'text']]);
    await expect(reader.values('select * from no_such_table', [])).rejects.toMatchObject({ code: 'SQLITE_ERROR', message: expect.stringContaining('no such table') });
    // Read-only: a write is refused, and the thread goes on serving.
    await expect(reader.values("insert into table_counts (name, value) values ('x', 1)", [])).rejects.toMatchObject({ code: 'SQLITE_READONLY' });
    expect(await reader.values('select count(*) from users', [])).toEqual([[0]]);
    await reader.close();
    await expect(reader.values('select 1', [])).rejects.toThrow(/closed/);
  });
});

describe('word boundary windows', () => {
  it('are the text two characters either side of each run of spaces, or none', () => {
    expect(wordBoundaryWindows('quokka xylophone')).toEqual(['ka xy']);
    expect(wordBoundaryWindows('the data  model')).toEqual(['he da', 'ta  mo']);
    expect(wordBoundaryWindows('a b')).toEqual(['a b']);
    expect(wordBoundaryWindows('heisenbug')).toEqual([]);
    expect(wordBoundaryWindows(' leading and trailing ')).toEqual(['ng an', 'nd tr']);
    expect(wordBoundaryWindows('ab c d')).toEqual(['ab c ', ' c d']);
    expect(wordBoundaryWindows('say "hi" there')).toEqual(['ay "h', 'i" th']);
  });
});
