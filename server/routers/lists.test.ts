// Lists and search at scale, on both dialects: search answers (posts and users) equal a brute-force filter, cursor
// pages never skip or repeat a row while rows are written between reads, and the search indexes follow every write.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { and, eq, or, sql, type SQL } from 'drizzle-orm';
import { callerFor, dialects, useTestDeps } from '../testing/harness.ts';
import { createUser, signedInUser, uniqueName } from '../testing/factories.ts';
import type { Deps } from '../deps.ts';
import { searchKeyLength } from '../../db/schema/search-key.ts';
import { fts5FoldsAlike } from '../../db/fts5-fold.ts';
import { usernameKey } from '../../db/index.ts';
import { cappedCount, nextChunkSize, TOTAL_CAP, totalOf, WALK_BUDGET_MS, walkBudget, walkNewestFirst, type WalkBudget, type WalkResume } from '../services/pages.ts';

type Draft = { title: string; body: string; published: boolean; createdAt: Date };

async function insertPosts(deps: Deps, authorId: string, drafts: Draft[]): Promise<{ id: string }[]> {
  const { posts } = deps.db.tables;
  if (drafts.length === 0) return [];
  return deps.db.orm
    .insert(posts)
    .values(drafts.map((draft) => ({ authorId, ...draft, updatedAt: draft.createdAt })))
    .returning({ id: posts.id });
}

/** What `q` must find: a case-insensitive, literal substring of the title or the body (never across them). */
const contains = (draft: { title: string; body: string }, q: string) => [draft.title, draft.body].some((text) => text.toLowerCase().includes(q.toLowerCase()));

/** Every page of a list, following nextCursor; `between` runs after each page (to write rows meanwhile). */
async function allPages<T>(read: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor: string | null }>, between: () => Promise<void> = async () => {}): Promise<T[][]> {
  const pages: T[][] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await read(cursor);
    pages.push(page.items);
    if (page.nextCursor === null) return pages;
    cursor = page.nextCursor;
    await between();
    expect(pages.length).toBeLessThan(1000);
  }
}

// Letters whose lower case is the same in JavaScript, Postgres and SQLite's FTS5 folding (not Σ: JavaScript
// lower-cases it by context, to ς at the end of a word), LIKE's wildcards and escape, FTS5's own syntax
// (" * : ^ ( )), spaces, and a character outside the Basic Multilingual Plane.
const ALPHABET = ['a', 'A', 'b', 'B', 'c', 'é', 'É', 'ж', 'Ж', 'ü', 'Ü', '日', '𝄞', '%', '_', '\\', '"', '*', ':', '^', '(', ' ', '-'];
const text = (maxLength: number) => fc.array(fc.constantFrom(...ALPHABET), { maxLength }).map((chars) => chars.join(''));
/** Search text as the router accepts it: trimmed, not empty. */
const query = (maxLength: number) => text(maxLength).map((q) => q.trim()).filter((q) => q.length > 0);

describe.each(dialects)('lists and search on %s', (dialect) => {
  const deps = useTestDeps(dialect, { env: { CACHE_TTL_SECONDS: '0' } });
  const anonymous = () => callerFor(deps.current);

  it('finds exactly what a brute-force filter finds, for any text and any query (1–2 characters too)', async () => {
    const author = await signedInUser(deps.current);
    const base = Date.UTC(2031, 0, 1);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ title: text(12), body: text(30), published: fc.boolean() }), { minLength: 1, maxLength: 12 }),
        fc.array(query(5), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        async (drafts, randomQueries, pick) => {
          // Each run writes newer posts than the last one, and searches only this author's posts.
          run++;
          const rows = drafts.map((draft, i) => ({ ...draft, createdAt: new Date(base + run * 1000 + i) }));
          const ids = await insertPosts(deps.current, author.user.id, rows);
          const written = rows.map((row, i) => ({ ...row, id: ids[i].id }));
          // Substrings of what was written, so that most queries find something.
          const source = written[pick % written.length];
          const whole = `${source.title}`.trim() || `${source.body}`.trim();
          const cut = [...whole];
          const start = pick % Math.max(1, cut.length);
          const fromText = cut.slice(start, start + 1 + (pick % 4)).join('').trim();
          // And a longer one, with words and their boundaries inside it (the index reads those first on SQLite).
          const longer = cut.slice(start, start + 6 + (pick % 7)).join('').trim();
          const queries = [...randomQueries, ...(fromText ? [fromText, fromText.toUpperCase()] : []), ...(longer ? [longer] : [])];
          const mine = await deps.current.db.orm
            .select({ id: deps.current.db.tables.posts.id, title: deps.current.db.tables.posts.title, body: deps.current.db.tables.posts.body, published: deps.current.db.tables.posts.published })
            .from(deps.current.db.tables.posts)
            .where(sql`${deps.current.db.tables.posts.authorId} = ${author.user.id}`);
          for (const q of queries) {
            const expectedAll = mine.filter((post) => contains(post, q)).map((post) => post.id).sort();
            const expectedPublic = mine.filter((post) => post.published && contains(post, q)).map((post) => post.id).sort();
            const asAuthor = (await allPages((cursor) => author.caller.posts.list({ q, authorId: author.user.id, limit: 7, cursor }))).flat();
            const asAnyone = (await allPages((cursor) => anonymous().posts.list({ q, authorId: author.user.id, limit: 100, cursor }))).flat();
            expect(asAuthor.map((post) => post.id).sort(), `q=${JSON.stringify(q)} as author`).toEqual(expectedAll);
            expect(asAnyone.map((post) => post.id).sort(), `q=${JSON.stringify(q)} anonymously`).toEqual(expectedPublic);
            // The trigram index's own answer (these few posts are all in the newest chunk, which the list tests
            // first), or null only when more posts of the whole table match than it is asked for.
            // Text trigrams cannot find is walked instead: under 3 characters other than spaces ("a b"), since both
            // dialects' indexes hold the text without its spaces.
            if (searchKeyLength(q) >= 3) {
              const { db } = deps.current;
              const { posts } = db.tables;
              const search = db.postsSearch(q);
              const indexed = await search.indexed(TOTAL_CAP);
              if (indexed) {
                const found = await db.orm.select({ id: posts.id }).from(posts).where(and(indexed, eq(posts.authorId, author.user.id)));
                expect(found.map((post) => post.id).sort(), `q=${JSON.stringify(q)} from the index`).toEqual(expectedAll);
              } else expect(await cappedCount(db.orm, posts, search.scan), `q=${JSON.stringify(q)} from the index`).toBeGreaterThan(TOTAL_CAP);
            }
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('finds exactly the users a brute-force filter finds, from the index and by walking, for any query', async () => {
    const admin = await signedInUser(deps.current, { role: 'admin' });
    const { db } = deps.current;
    const { users } = db.tables;
    // Usernames are ASCII by their schema; e-mails are stored lower-cased; names are in any script, here with the
    // Kelvin sign too (lower-cased to an ASCII k by JavaScript, Postgres and FTS5 alike, not by SQLite's lower()).
    const ascii = (maxLength: number) => fc.array(fc.constantFrom('a', 'A', 'b', 'B', 'c', '_', '1'), { maxLength }).map((chars) => chars.join(''));
    const withK = (maxLength: number) => fc.array(fc.constantFrom(...ALPHABET, '\u212a', 'k'), { maxLength }).map((chars) => chars.join(''));
    /** What `q` must find: the username by its key, the e-mail as stored against q lower-cased, the name in any case. */
    const finds = (user: { username: string; email: string; fullName: string | null }, q: string) =>
      usernameKey(user.username).includes(usernameKey(q)) || user.email.includes(q.toLowerCase()) || (user.fullName ?? '').toLowerCase().includes(q.toLowerCase());
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ username: ascii(6), email: text(6), fullName: fc.option(withK(14)) }), { minLength: 1, maxLength: 8 }),
        fc.array(withK(5).map((q) => q.trim()).filter((q) => q.length > 0), { minLength: 1, maxLength: 5 }),
        fc.nat(),
        async (drafts, randomQueries, pick) => {
          run++;
          const made = [];
          for (const [i, draft] of drafts.entries()) {
            const username = `${draft.username}Z${run}x${i}`;
            made.push(await createUser(deps.current, { username, email: `${draft.email}.${run}.${i}@x.example`.toLowerCase(), fullName: draft.fullName }));
          }
          const source = made[pick % made.length];
          const field = [source.fullName ?? source.email, source.email, source.username][pick % 3];
          const cut = [...field];
          const start = pick % Math.max(1, cut.length);
          const piece = cut.slice(start, start + 1 + (pick % 6)).join('').trim();
          const queries = [...randomQueries, ...(piece ? [piece, piece.toUpperCase()] : [])];
          const everyone = await db.orm.select({ id: users.id, username: users.username, email: users.email, fullName: users.fullName }).from(users);
          expect(everyone.length).toBeLessThan(TOTAL_CAP);
          for (const q of queries) {
            const expected = everyone.filter((user) => finds(user, q)).map((user) => user.id).sort();
            const listed = (await allPages((cursor) => admin.caller.users.list({ q, limit: 100, cursor }))).flat();
            expect(listed.map((user) => user.id).sort(), `q=${JSON.stringify(q)}`).toEqual(expected);
            // The index's own answer, for text it can be asked with: fewer users than it is asked for match.
            const indexed = await db.usersSearch(q).indexed(TOTAL_CAP);
            const askable = [...q].length >= 3 && (db.dialect === 'postgres' || fts5FoldsAlike(q));
            expect(indexed !== null, `q=${JSON.stringify(q)} asks the index`).toBe(askable);
            if (indexed) {
              const found = await db.orm.select({ id: users.id }).from(users).where(indexed);
              expect(found.map((user) => user.id).sort(), `q=${JSON.stringify(q)} from the index`).toEqual(expected);
            }
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('keeps the users search index in step with every change, and walks text FTS5 folds otherwise', async () => {
    const admin = await signedInUser(deps.current, { role: 'admin' });
    const word = `usx${uniqueName('w').replace(/_/g, '')}`;
    const { db } = deps.current;
    /** The list's answer, and the index's own where it can be asked (these few users are all in the walk's first chunk). */
    const found = async (q: string) => {
      const listed = (await admin.caller.users.list({ q, limit: 100 })).items.map((user) => user.id);
      const indexed = await db.usersSearch(q).indexed(TOTAL_CAP);
      if (indexed) expect((await db.orm.select({ id: db.tables.users.id }).from(db.tables.users).where(indexed)).map((row) => row.id).sort(), q).toEqual([...listed].sort());
      return listed;
    };
    const user = await createUser(deps.current, { username: `${word}_name`, fullName: `Ärger ${word} ᏣᎳᎩ` });
    expect(await found(`ärger ${word.toUpperCase()}`)).toEqual([user.id]);
    expect(await found(`${word}_NAME@example`)).toEqual([user.id]);
    // Cherokee, which JavaScript and Postgres fold but SQLite's FTS5 does not: found by the walk on SQLite.
    expect(await found(`${word} ꮳꮃꭹ`)).toEqual([user.id]);
    // The two letters JavaScript lower-cases to ASCII (the Kelvin sign to k; İ to i and a dot above), in a name that
    // ASCII text finds: SQLite's A–Z lower() alone would miss it, and FTS5 folds İ to neither.
    const kelvin = await createUser(deps.current, { fullName: `\u212aelvin Ay\u0130 ${word}` });
    expect(await found(`kelvin ayi`)).toEqual([kelvin.id]);
    expect(await found(`${word.toUpperCase()}`)).toEqual([kelvin.id, user.id]);
    await admin.caller.users.update({ id: user.id, fullName: `Renamed ${word}` });
    expect(await found(`ärger ${word}`)).toEqual([]);
    expect(await found(`renamed ${word}`)).toEqual([user.id]);
    await admin.caller.users.update({ id: user.id, email: `moved.${word}@example.org` });
    expect(await found(`${word}_name@example`)).toEqual([]);
    expect(await found(`MOVED.${word}@`)).toEqual([user.id]);
    await admin.caller.users.delete({ id: user.id });
    await admin.caller.users.delete({ id: kelvin.id });
    expect(await found(word)).toEqual([]);
    if (deps.current.db.dialect === 'sqlite') {
      // The index itself (the search tests each candidate, and would hide a stale entry).
      const sqlite = deps.current.db.orm as unknown as { run: (query: SQL) => Promise<unknown>; values: (query: SQL) => Promise<unknown[][]> };
      expect(await sqlite.values(sql`select rowid from users_fts where users_fts match ${`"${word}"`}`)).toEqual([]);
      await sqlite.run(sql`insert into users_fts(users_fts, rank) values ('integrity-check', 1)`);
    }
  });

  it('walks text found in more posts than the index is asked for, with the same answers and pages', async () => {
    const author = await createUser(deps.current);
    const word = `cmn${uniqueName('w').replace(/_/g, '')}`;
    const base = Date.UTC(2032, 0, 1);
    const count = TOTAL_CAP + 300;
    const drafts = Array.from({ length: count }, (_, i) => ({
      title: i % 2 === 0 && i % 10 !== 0 ? `${word.toUpperCase()} ${i}` : `other ${i}`,
      body: i % 2 === 1 ? `x${word}x` : 'plain',
      published: i % 5 !== 0,
      createdAt: new Date(base + Math.floor(i / 2) * 1000),
    }));
    await insertPosts(deps.current, author.id, drafts.slice(0, 500));
    await insertPosts(deps.current, author.id, drafts.slice(500));
    const titles = (await allPages((cursor) => anonymous().posts.list({ q: word, limit: 100, cursor }))).flat().map((post) => post.title);
    const expected = drafts.map((draft, i) => ({ ...draft, i })).filter((draft) => draft.published && contains(draft, word));
    expect(titles.sort()).toEqual(expected.map((draft) => draft.title).sort());
    const first = await anonymous().posts.list({ q: word, limit: 10 });
    expect(first.items).toHaveLength(10);
    expect(first.totalIsLowerBound).toBe(true);
    expect(first.total).toBeGreaterThanOrEqual(10);
    // skip counts matches, as without a cursor.
    const skipped = await anonymous().posts.list({ q: word, limit: 5, skip: 5 });
    expect(skipped.items.map((post) => post.id)).toEqual(first.items.slice(5).map((post) => post.id));

    // Rare text in old posts only: the newest chunk does not fill the page, so the trigram index answers.
    const rare = await insertPosts(
      deps.current,
      author.id,
      ['Über %_\\ Ärger', 'über %_\\ ärger draft', 'nothing here', 'ÜBER %_\\ ÄRGER, loud'].map((title, i) => ({
        title: `${title} ${word}`,
        body: i === 2 ? 'über %_\\ ärger in the body' : 'b',
        published: i !== 1,
        createdAt: new Date(base - 1_000_000 + i),
      })),
    );
    for (const q of ['über %_\\ ärger', 'ÜBER %_\\', '%_\\ Ä']) {
      const found = (await allPages((cursor) => anonymous().posts.list({ q, authorId: author.id, limit: 2, cursor }))).flat().map((post) => post.id);
      expect(found, q).toEqual([rare[3].id, rare[2].id, rare[0].id]);
      const page = await anonymous().posts.list({ q, authorId: author.id });
      expect({ total: page.total, totalIsLowerBound: page.totalIsLowerBound }, q).toEqual({ total: 3, totalIsLowerBound: false });
    }
  });

  it('counts every list up to the cap, past it from the kept counts where those cover the list, as a count would', async () => {
    const writer = await signedInUser(deps.current);
    const admin = await signedInUser(deps.current, { role: 'admin' });
    const base = Date.UTC(2034, 0, 1);
    const published = TOTAL_CAP + 2;
    await insertPosts(deps.current, writer.user.id, Array.from({ length: published + 3 }, (_, i) => ({ title: `many ${i}`, body: 'b', published: i < published, createdAt: new Date(base + i) })));
    const { db } = deps.current;
    const { posts } = db.tables;
    /** What counting every matching row, capped, says (the count the lists ran before counts were kept). */
    const counted = async (where: SQL | undefined) => totalOf(await cappedCount(db.orm, posts, where));
    const totals = (page: { total: number; totalIsLowerBound: boolean }) => ({ total: page.total, totalIsLowerBound: page.totalIsLowerBound });
    const checks: [string, () => Promise<{ total: number; totalIsLowerBound: boolean }>, SQL | undefined][] = [
      ['anonymous', () => anonymous().posts.list({}), eq(posts.published, true)],
      ['author', () => writer.caller.posts.list({}), or(eq(posts.published, true), eq(posts.authorId, writer.user.id))],
      ['admin', () => admin.caller.posts.list({}), undefined],
      ['admin, published', () => admin.caller.posts.list({ published: true }), eq(posts.published, true)],
      ['admin, drafts', () => admin.caller.posts.list({ published: false }), eq(posts.published, false)],
      ['by author', () => anonymous().posts.list({ authorId: writer.user.id }), and(eq(posts.published, true), eq(posts.authorId, writer.user.id))],
      ['author’s drafts', () => writer.caller.posts.list({ authorId: writer.user.id, published: false }), and(eq(posts.authorId, writer.user.id), eq(posts.published, false))],
      ['search', () => anonymous().posts.list({ q: 'many 100' }), and(eq(posts.published, true), db.contains(posts.title, 'many 100'))],
    ];
    for (const [name, list, where] of checks) expect(totals(await list()), name).toEqual(await counted(where));
    expect(totals(await anonymous().posts.list({})), 'past the cap').toEqual({ total: TOTAL_CAP, totalIsLowerBound: true });
    expect(totals(await writer.caller.posts.list({ authorId: writer.user.id, published: false })), 'drafts').toEqual({ total: 3, totalIsLowerBound: false });
  });

  it('walks in chunks of any size with the answers of a brute-force filter, rows with equal times too', async () => {
    const author = await createUser(deps.current);
    const word = `wlk${uniqueName('w').replace(/_/g, '')}`;
    const base = Date.UTC(2033, 0, 1);
    // Pairs and triples of posts created at the same millisecond: chunk edges fall between rows of one time.
    const drafts = Array.from({ length: 37 }, (_, i) => ({ title: i % 3 === 0 || i % 7 === 0 ? `${word} ${i}` : `other ${i}`, body: 'b', published: i % 4 !== 1, createdAt: new Date(base + Math.floor(i / 3) * 1000) }));
    const ids = (await insertPosts(deps.current, author.id, drafts)).map((row) => row.id);
    const { db } = deps.current;
    const { posts } = db.tables;
    const rows = drafts.map((draft, i) => ({ ...draft, id: ids[i] })).filter((row) => row.published);
    const newestFirst = rows.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    const where = and(eq(posts.published, true), eq(posts.authorId, author.id));
    const matching = newestFirst.filter((row) => row.title.startsWith(word));
    for (const chunk of [1, 2, 3, 5, 40]) {
      for (const [skip, limit] of [[0, 4], [3, 2], [0, 50]]) {
        for (const from of [undefined, newestFirst[4], newestFirst[5]]) {
          const key = from && { createdAt: from.createdAt, id: from.id };
          const walk = await walkNewestFirst(db.orm, posts, posts, where, db.contains(posts.title, word), key, { skip, limit }, { chunk });
          const after = from ? matching.filter((row) => newestFirst.indexOf(row) > newestFirst.indexOf(from)) : matching;
          const label = `chunk ${chunk}, skip ${skip}, limit ${limit}, after ${from?.title}`;
          expect(walk.ids, label).toEqual(after.slice(skip, skip + limit + 1).map((row) => row.id));
          expect(walk.answered, label).toBe(true);
          expect(walk.complete, label).toBe(!from && after.length < skip + limit + 1);
          // A walk stopped after its first chunk and resumed gives the same page.
          const first = await walkNewestFirst(db.orm, posts, posts, where, db.contains(posts.title, word), key, { skip, limit }, { chunk, maxRows: chunk });
          const resumed = first.answered ? first : await walkNewestFirst(db.orm, posts, posts, where, db.contains(posts.title, word), key, { skip, limit }, { chunk, resume: first.resume });
          expect({ ids: resumed.ids, complete: resumed.complete }, `${label}, resumed`).toEqual({ ids: walk.ids, complete: walk.complete });
          // A budget no chunk keeps (every chunk shrinks the next to a tenth of `chunk`) and one every chunk keeps
          // change the sizes, never the answer.
          for (const ms of [1e-9, 1e9]) {
            const budgeted = await walkNewestFirst(db.orm, posts, posts, where, db.contains(posts.title, word), key, { skip, limit }, { chunk, budget: { ms, first: new Map() } });
            expect({ ids: budgeted.ids, complete: budgeted.complete }, `${label}, budget ${ms} ms`).toEqual({ ids: walk.ids, complete: walk.complete });
          }
        }
      }
    }
  });

  it('sizes a budgeted walk’s chunks by the time the last one took, from where its table’s last walk left it', async () => {
    const author = await createUser(deps.current);
    await insertPosts(deps.current, author.id, Array.from({ length: 50 }, (_, i) => ({ title: `none ${i}`, body: 'b', published: true, createdAt: new Date(Date.UTC(2034, 0, 1) + i * 1000) })));
    const { db } = deps.current;
    const { posts } = db.tables;
    const where = eq(posts.authorId, author.id);
    const walk = (budget: WalkBudget | undefined, resume?: WalkResume | null) =>
      walkNewestFirst(db.orm, posts, posts, where, db.contains(posts.title, 'found nowhere'), undefined, { skip: 0, limit: 5 }, { chunk: 20, maxRows: 20, budget, resume });
    // The newest 20 rows: in one chunk without a budget. With one every chunk keeps, first 5 rows (nothing known yet),
    // then the 15 left; the next walk of the table takes all 20 at once. With one no chunk keeps, 5 rows, then
    // chunks of 2 (a tenth of 20), and so does the next walk from its start.
    const roomy = { ms: 1e9, first: new Map() };
    const tight = { ms: 1e-9, first: new Map() };
    expect((await walk(undefined)).chunks).toBe(1);
    expect([(await walk(roomy)).chunks, (await walk(roomy)).chunks]).toEqual([2, 1]);
    const first = await walk(tight);
    expect([first.chunks, (await walk(tight)).chunks]).toEqual([1 + 8, 10]);
    expect(first.resume?.from.createdAt.getTime()).toBe(Date.UTC(2034, 0, 1) + 30 * 1000);
    // Resumed, a walk goes on after the 20th newest row and stops at the 40th, from a quarter of its chunk whatever
    // the first chunks did: in one chunk without a budget, 5 + 15 rows with a roomy one, 5 + 2 + 2 ... with a tight one.
    const resumed = [await walk(undefined, first.resume), await walk(roomy, first.resume), await walk(tight, first.resume)];
    expect(resumed.map((walked) => walked.chunks)).toEqual([1, 2, 1 + 8]);
    for (const walked of resumed) expect(walked.resume?.from.createdAt.getTime()).toBe(Date.UTC(2034, 0, 1) + 10 * 1000);
    expect(walkBudget(db)?.ms).toBe(db.dialect === 'sqlite' ? WALK_BUDGET_MS : undefined);
    expect(walkBudget(db)).toBe(walkBudget(db));
    // In proportion to the budget over the time taken, between a tenth of the set size and the set size.
    expect([nextChunkSize(1000, 16, 8, 1000), nextChunkSize(500, 4, 8, 1000), nextChunkSize(1000, 400, 8, 1000), nextChunkSize(1000, 0, 8, 1000)]).toEqual([500, 1000, 100, 1000]);
  });

  it('pages with cursors that never skip or repeat a row while posts are written between reads', async () => {
    const author = await signedInUser(deps.current);
    const tag = `pg${uniqueName('c').replace(/_/g, '')}`;
    const base = Date.UTC(2033, 0, 1);
    // Pairs share a creation time: the id breaks the tie.
    const original = await insertPosts(
      deps.current,
      author.user.id,
      Array.from({ length: 23 }, (_, i) => ({ title: `${tag} ${i}`, body: 'b', published: i % 4 !== 0, createdAt: new Date(base + Math.floor(i / 2) * 1000) })),
    );
    let written = 0;
    const writeMore = async () => {
      written++;
      // One newer than everything and one at a time the pages have already passed: neither may appear twice or
      // shift a row out of the pages to come.
      await insertPosts(deps.current, author.user.id, [
        { title: `${tag} new ${written}`, body: 'b', published: true, createdAt: new Date(base + 1_000_000 + written) },
        { title: `${tag} old ${written}`, body: 'b', published: true, createdAt: new Date(base + 11_000) },
      ]);
    };
    for (const [name, read] of [
      ['no q', (cursor: string | undefined) => author.caller.posts.list({ authorId: author.user.id, limit: 4, cursor })],
      ['q from the index', (cursor: string | undefined) => author.caller.posts.list({ authorId: author.user.id, q: tag, limit: 4, cursor })],
      ['q of 2 characters', (cursor: string | undefined) => author.caller.posts.list({ authorId: author.user.id, q: 'b', limit: 4, cursor })],
    ] as const) {
      const pages = await allPages(read, writeMore);
      const rows = pages.flat();
      const ids = rows.map((row) => row.id);
      expect(new Set(ids).size, name).toBe(ids.length);
      for (const { id } of original) expect(ids, name).toContain(id);
      const keys = rows.map((row) => [row.createdAt.getTime(), row.id] as const);
      for (let i = 1; i < keys.length; i++) {
        const [time, id] = keys[i];
        const [previousTime, previousId] = keys[i - 1];
        expect(time < previousTime || (time === previousTime && id < previousId), `${name}: row ${i} is older than row ${i - 1}`).toBe(true);
      }
    }
    const refused = await anonymous()
      .posts.list({ cursor: 'not a cursor' })
      .then(() => null, (error: { code?: string }) => error.code);
    expect(refused).toBe('BAD_REQUEST');
  });

  it('pages tasks and users with cursors as well', async () => {
    const admin = await signedInUser(deps.current, { role: 'admin' });
    const { tasks } = deps.current.db.tables;
    const base = Date.UTC(2034, 0, 1);
    const insertTasks = (n: number, at: (i: number) => number) =>
      deps.current.db.orm
        .insert(tasks)
        .values(Array.from({ length: n }, (_, i) => ({ userId: admin.user.id, type: 'math.sum', input: { numbers: [i] }, createdAt: new Date(at(i)) })))
        .returning({ id: tasks.id });
    const original = await insertTasks(9, (i) => base + Math.floor(i / 3) * 1000);
    const taskPages = await allPages(
      (cursor) => admin.caller.tasks.list({ userId: admin.user.id, limit: 2, cursor }),
      async () => void (await insertTasks(1, () => base + 10_000_000)),
    );
    const taskIds = taskPages.flat().map((task) => task.id);
    expect(new Set(taskIds).size).toBe(taskIds.length);
    expect(taskIds.slice(0, 9).sort()).toEqual(original.map((task) => task.id).sort());

    const tag = `Pu${uniqueName('u').replace(/_/g, '')}`;
    const users = [];
    for (let i = 0; i < 7; i++) users.push(await createUser(deps.current, { username: `${tag}_${i}`, createdAt: new Date(base + Math.floor(i / 2) * 1000) }));
    let added = 0;
    const userPages = await allPages(
      (cursor) => admin.caller.users.list({ q: tag, limit: 3, cursor }),
      async () => void (await createUser(deps.current, { username: `${tag}_n${added++}`, createdAt: new Date(base + 10_000_000 + added) })),
    );
    const userIds = userPages.flat().map((user) => user.id);
    expect(new Set(userIds).size).toBe(userIds.length);
    expect(userIds.sort()).toEqual(users.map((user) => user.id).sort());
    const everyone = await admin.caller.users.list({ limit: 1 });
    expect(everyone.nextCursor).not.toBeNull();

    // Totals ride in the page's statement; a page past the end, with no row to carry one, still has it.
    const totals = (page: { items: unknown[]; total: number; totalIsLowerBound: boolean }) => ({ items: page.items.length, total: page.total, lowerBound: page.totalIsLowerBound });
    const taskCount = (await admin.caller.tasks.list({ userId: admin.user.id, limit: 100 })).items.length;
    expect(taskCount).toBeGreaterThan(9);
    expect(totals(await admin.caller.tasks.list({ userId: admin.user.id, limit: 2 }))).toEqual({ items: 2, total: taskCount, lowerBound: false });
    expect(totals(await admin.caller.tasks.list({ userId: admin.user.id, skip: taskCount }))).toEqual({ items: 0, total: taskCount, lowerBound: false });
    const lastTask = await admin.caller.tasks.list({ userId: admin.user.id, skip: taskCount - 1, limit: 1 });
    expect(totals(lastTask)).toEqual({ items: 1, total: taskCount, lowerBound: false });
    const admins = await admin.caller.users.list({ role: 'admin', limit: 100 });
    expect(totals(await admin.caller.users.list({ role: 'admin', skip: admins.items.length }))).toEqual({ items: 0, total: admins.total, lowerBound: false });
    expect(admins.total).toBe(admins.items.length);
  });

  it('keeps the search index in step with edits, unpublishing, deletes and deleted authors', async () => {
    const author = await signedInUser(deps.current);
    const admin = await signedInUser(deps.current, { role: 'admin' });
    const word = `stp${uniqueName('s').replace(/_/g, '')}`;
    const found = async (q: string, as = anonymous()) => (await as.posts.list({ q, limit: 100 })).items.map((post) => post.id);
    const post = await author.caller.posts.create({ title: `Before ${word}`, body: 'first body', published: true });
    expect(await found(word)).toEqual([post.id]);
    await author.caller.posts.update({ id: post.id, title: 'After', body: `now ${word.toUpperCase()} in the body` });
    expect(await found(`now ${word}`)).toEqual([post.id]);
    expect(await found(`Before ${word}`)).toEqual([]);
    await author.caller.posts.update({ id: post.id, published: false });
    expect(await found(word)).toEqual([]);
    expect(await found(word, author.caller)).toEqual([post.id]);
    expect(await found(word, admin.caller)).toEqual([post.id]);
    await author.caller.posts.delete({ id: post.id });
    expect(await found(word, admin.caller)).toEqual([]);
    const second = await author.caller.posts.create({ title: `Again ${word}`, body: '', published: true });
    expect(await found(word)).toEqual([second.id]);
    // Non-ASCII text ending in i matches an İ (lower-cased i and a dot above), which posts_fts holds as FTS5 folds it:
    // on SQLite such text is walked (db/fts5-fold.ts), and wherever the index answers, its answer holds the post.
    const dotted = await author.caller.posts.create({ title: `${word} éİ`, body: '', published: true });
    expect(await found(`${word} éi`)).toEqual([dotted.id]);
    const indexed = await deps.current.db.postsSearch(`${word} éi`).indexed(TOTAL_CAP);
    if (indexed) expect((await deps.current.db.orm.select({ id: deps.current.db.tables.posts.id }).from(deps.current.db.tables.posts).where(indexed)).map((row) => row.id)).toEqual([dotted.id]);
    await admin.caller.users.delete({ id: author.user.id });
    expect(await found(word, admin.caller)).toEqual([]);
    if (deps.current.db.dialect === 'sqlite') {
      // The index itself, not the search (which tests each candidate for the text, and so would hide a stale
      // entry): every post that held the word is gone, and so must be every entry that holds it.
      const sqlite = deps.current.db.orm as unknown as { run: (query: SQL) => Promise<unknown>; values: (query: SQL) => Promise<unknown[][]> };
      expect(await sqlite.values(sql`select rowid from posts_fts where posts_fts match ${`"${word}"`}`)).toEqual([]);
      await sqlite.run(sql`insert into posts_fts(posts_fts, rank) values ('integrity-check', 1)`);
    }
  });
});
