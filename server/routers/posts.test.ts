// posts.* and users.getWithPosts on both dialects: ownership, visibility, search, paging and query shape.
import { describe, expect, it } from 'vitest';
import { callerFor, dialects, failure, useTestDeps } from '../testing/harness.ts';
import { createUser, signedInUser, uniqueName } from '../testing/factories.ts';
import type { Deps } from '../deps.ts';

/** Inserts posts for an author with distinct, increasing creation times (oldest first). */
async function seedPosts(deps: Deps, authorId: string, posts: { title: string; body?: string; published?: boolean }[], start = Date.UTC(2030, 0, 1)) {
  const { posts: table } = deps.db.tables;
  if (posts.length === 0) return [];
  return deps.db.orm
    .insert(table)
    .values(posts.map((post, i) => ({ authorId, title: post.title, body: post.body ?? 'body', published: post.published ?? true, createdAt: new Date(start + i * 1000), updatedAt: new Date(start + i * 1000) })))
    .returning({ id: table.id, title: table.title });
}

/** Every statement the database runs while `fn` does, in order. */
async function recordQueries(deps: Deps, fn: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const stop = deps.db.onQuery((query) => seen.push(query));
  try {
    await fn();
  } finally {
    stop();
  }
  return seen;
}

describe.each(dialects)('posts on %s', (dialect) => {
  // Cache off here, so every read shows its queries; the cache has its own tests.
  const deps = useTestDeps(dialect, { env: { CACHE_TTL_SECONDS: '0' } });
  const anonymous = () => callerFor(deps.current);

  describe('create', () => {
    it('creates a draft by default, with its author', async () => {
      const { caller, user } = await signedInUser(deps.current);
      const post = await caller.posts.create({ title: '  Hello  ', body: 'First post' });
      expect(post).toEqual({
        id: expect.any(String),
        title: 'Hello',
        body: 'First post',
        published: false,
        createdAt: expect.any(Date),
        updatedAt: expect.any(Date),
        author: { id: user.id, username: user.username },
      });
      expect((await caller.posts.create({ title: 'Out', body: '', published: true })).published).toBe(true);
    });

    it.each([
      ['an empty title', { title: '   ', body: 'x' }, 'title'],
      ['a 201-character title', { title: 't'.repeat(201), body: 'x' }, 'title'],
      ['a body over 50,000 characters', { title: 'ok', body: 'b'.repeat(50_001) }, 'body'],
      ['a number as title', { title: 5, body: 'x' }, 'title'],
      ['a string as published', { title: 'ok', body: 'x', published: 'yes' }, 'published'],
    ])('refuses %s with a message on that field', async (_case, input, field) => {
      const { caller } = await signedInUser(deps.current);
      const result = await failure(caller.posts.create(input as never));
      expect(result.code).toBe('BAD_REQUEST');
      expect(Object.keys(result.fieldErrors)).toEqual([field]);
    });

    it('accepts a body of exactly 50,000 characters and needs a session or token', async () => {
      const { caller } = await signedInUser(deps.current);
      expect((await caller.posts.create({ title: 'long', body: 'b'.repeat(50_000) })).body).toHaveLength(50_000);
      expect((await failure(anonymous().posts.create({ title: 'x', body: 'y' }))).code).toBe('UNAUTHORIZED');
    });
  });

  describe('get', () => {
    it('shows published posts to anyone and drafts only to their author and admins', async () => {
      const author = await signedInUser(deps.current);
      const stranger = await signedInUser(deps.current);
      const admin = await signedInUser(deps.current, { role: 'admin' });
      const published = await author.caller.posts.create({ title: 'Public', body: 'b', published: true });
      const draft = await author.caller.posts.create({ title: 'Draft', body: 'b' });
      expect((await anonymous().posts.get({ id: published.id })).title).toBe('Public');
      expect((await author.caller.posts.get({ id: draft.id })).title).toBe('Draft');
      expect((await admin.caller.posts.get({ id: draft.id })).title).toBe('Draft');
      for (const caller of [anonymous(), stranger.caller]) {
        expect(await failure(caller.posts.get({ id: draft.id }))).toMatchObject({ code: 'NOT_FOUND', message: 'post not found' });
      }
    });

    it('is NOT_FOUND for unknown and malformed ids, never a 500', async () => {
      for (const id of [crypto.randomUUID(), 'not-a-uuid', '00000000-0000-0000-0000-00000000000z', "1' or '1'='1"]) {
        expect((await failure(anonymous().posts.get({ id }))).code).toBe('NOT_FOUND');
      }
    });
  });

  describe('update and delete', () => {
    it('lets only the author edit, and hides drafts from everyone else', async () => {
      const author = await signedInUser(deps.current);
      const stranger = await signedInUser(deps.current);
      const admin = await signedInUser(deps.current, { role: 'admin' });
      const post = await author.caller.posts.create({ title: 'Mine', body: 'b', published: true });
      const draft = await author.caller.posts.create({ title: 'Secret', body: 'b' });
      const updated = await author.caller.posts.update({ id: post.id, title: 'Mine, edited', published: false });
      expect(updated).toMatchObject({ title: 'Mine, edited', body: 'b', published: false });
      expect(updated.updatedAt.getTime()).toBeGreaterThanOrEqual(post.updatedAt.getTime());
      await author.caller.posts.update({ id: post.id, published: true });
      expect(await failure(stranger.caller.posts.update({ id: post.id, title: 'x' }))).toMatchObject({ code: 'FORBIDDEN', message: 'only the author can edit a post' });
      expect((await failure(admin.caller.posts.update({ id: post.id, title: 'x' }))).code).toBe('FORBIDDEN');
      expect((await failure(stranger.caller.posts.update({ id: draft.id, title: 'x' }))).code).toBe('NOT_FOUND');
      expect((await failure(author.caller.posts.update({ id: 'missing', title: 'x' }))).code).toBe('NOT_FOUND');
      expect((await failure(author.caller.posts.update({ id: post.id, title: '' }))).fieldErrors).toHaveProperty('title');
      expect((await anonymous().posts.get({ id: post.id })).title).toBe('Mine, edited');
    });

    it('lets the author or an admin delete', async () => {
      const author = await signedInUser(deps.current);
      const stranger = await signedInUser(deps.current);
      const admin = await signedInUser(deps.current, { role: 'admin' });
      const first = await author.caller.posts.create({ title: 'One', body: 'b', published: true });
      const second = await author.caller.posts.create({ title: 'Two', body: 'b' });
      expect((await failure(stranger.caller.posts.delete({ id: first.id }))).code).toBe('FORBIDDEN');
      expect((await failure(stranger.caller.posts.delete({ id: second.id }))).code).toBe('NOT_FOUND');
      expect(await author.caller.posts.delete({ id: first.id })).toEqual({ ok: true });
      expect(await admin.caller.posts.delete({ id: second.id })).toEqual({ ok: true });
      expect((await failure(author.caller.posts.delete({ id: first.id }))).code).toBe('NOT_FOUND');
      expect((await failure(author.caller.posts.get({ id: second.id }))).code).toBe('NOT_FOUND');
    });

    it('removes an author’s posts with the author', async () => {
      const author = await signedInUser(deps.current);
      const admin = await signedInUser(deps.current, { role: 'admin' });
      const post = await author.caller.posts.create({ title: 'Gone', body: 'b', published: true });
      await admin.caller.users.delete({ id: author.user.id });
      expect((await failure(anonymous().posts.get({ id: post.id }))).code).toBe('NOT_FOUND');
    });
  });

  describe('list', () => {
    it('pages newest first with authors and a total; drafts only for their author and admins', async () => {
      const author = await signedInUser(deps.current);
      const admin = await signedInUser(deps.current, { role: 'admin' });
      const seeded = await seedPosts(deps.current, author.user.id, [
        { title: 'p1' },
        { title: 'p2' },
        { title: 'd3', published: false },
        { title: 'p4' },
        { title: 'p5' },
      ]);
      const titles = (page: { items: { title: string }[] }) => page.items.map((item) => item.title);
      const publicPage = await anonymous().posts.list({ authorId: author.user.id });
      expect(titles(publicPage)).toEqual(['p5', 'p4', 'p2', 'p1']);
      expect(publicPage.total).toBe(4);
      expect(publicPage.items[0]).toEqual({
        id: seeded[4].id,
        title: 'p5',
        published: true,
        createdAt: expect.any(Date),
        updatedAt: expect.any(Date),
        author: { id: author.user.id, username: author.user.username },
      });
      expect(titles(await author.caller.posts.list({ authorId: author.user.id }))).toEqual(['p5', 'p4', 'd3', 'p2', 'p1']);
      expect(titles(await admin.caller.posts.list({ authorId: author.user.id, published: false }))).toEqual(['d3']);
      expect(titles(await anonymous().posts.list({ authorId: author.user.id, published: false }))).toEqual([]);
      const second = await anonymous().posts.list({ authorId: author.user.id, skip: 1, limit: 2 });
      expect({ titles: titles(second), total: second.total }).toEqual({ titles: ['p4', 'p2'], total: 4 });
    });

    it('searches title and body case-insensitively, with %, _ and \\ taken literally', async () => {
      const author = await createUser(deps.current);
      const tag = uniqueName('srch').replace(/_/g, '');
      await seedPosts(deps.current, author.id, [
        { title: `${tag} Gardening tips`, body: 'Tomatoes need sun' },
        { title: `${tag} Cooking`, body: 'Use 100% butter' },
        { title: `${tag} Paths`, body: 'C:\\Users\\me' },
        { title: `${tag} Under_score`, body: 'snake_case' },
        { title: `${tag} Plain`, body: '100 percent plain, underXscore' },
        { title: `${tag} Hidden gardening`, published: false },
      ]);
      const search = async (q: string) => (await anonymous().posts.list({ q: `${q}`, authorId: author.id })).items.map((item) => item.title.slice(tag.length + 1)).sort();
      expect(await search('GARDENING')).toEqual(['Gardening tips']);
      expect(await search('tomatoes')).toEqual(['Gardening tips']);
      expect(await search('100%')).toEqual(['Cooking']);
      expect(await search('%')).toEqual(['Cooking']);
      expect(await search('under_')).toEqual(['Under_score']);
      expect(await search('_')).toEqual(['Under_score']);
      expect(await search('\\users\\')).toEqual(['Paths']);
      expect(await search('\\')).toEqual(['Paths']);
      expect(await search('nothing like this')).toEqual([]);
      // A match may not span the end of the title and the start of the body.
      expect(await search('tips tomatoes')).toEqual([]);
      expect((await anonymous().posts.list({ q: tag })).total).toBe(5);
    });

    it('refuses out-of-range paging and wrong types with field messages', async () => {
      for (const [input, field] of [
        [{ limit: 0 }, 'limit'],
        [{ limit: 101 }, 'limit'],
        [{ skip: -1 }, 'skip'],
        [{ limit: 1.5 }, 'limit'],
        [{ published: 'true' }, 'published'],
        [{ q: 'q'.repeat(201) }, 'q'],
        [{ q: 'tab\there' }, 'q'],
      ] as const) {
        const result = await failure(anonymous().posts.list(input as never));
        expect(result.code).toBe('BAD_REQUEST');
        expect(Object.keys(result.fieldErrors)).toEqual([field]);
      }
      expect((await anonymous().posts.list({ limit: 100 })).items.length).toBeLessThanOrEqual(100);
    });
  });

  describe('users.getWithPosts', () => {
    it('returns the public profile with its latest published posts', async () => {
      const author = await createUser(deps.current, { fullName: 'Writer' });
      await seedPosts(deps.current, author.id, Array.from({ length: 14 }, (_, i) => ({ title: `post ${i}`, published: i !== 13 })));
      const profile = await anonymous().users.getWithPosts({ id: author.id });
      expect(profile).toMatchObject({ id: author.id, username: author.username, fullName: 'Writer' });
      expect(profile.posts.map((post) => post.title)).toEqual(Array.from({ length: 10 }, (_, i) => `post ${12 - i}`));
      expect(Object.keys(profile.posts[0]).sort()).toEqual(['createdAt', 'id', 'published', 'title', 'updatedAt']);
      expect((await anonymous().users.getWithPosts({ id: author.id, postsLimit: 3 })).posts).toHaveLength(3);
      expect((await anonymous().users.getWithPosts({ id: author.id, postsLimit: 50 })).posts).toHaveLength(13);
      expect((await failure(anonymous().users.getWithPosts({ id: author.id, postsLimit: 51 }))).fieldErrors).toHaveProperty('postsLimit');
      expect((await failure(anonymous().users.getWithPosts({ id: author.id, postsLimit: 0 }))).fieldErrors).toHaveProperty('postsLimit');
      expect((await failure(anonymous().users.getWithPosts({ id: 'nobody' }))).code).toBe('NOT_FOUND');
    });
  });

  describe('query shape', () => {
    it('reads profiles with posts in two queries, however many posts there are', async () => {
      for (const count of [0, 3, 40]) {
        const author = await createUser(deps.current);
        await seedPosts(deps.current, author.id, Array.from({ length: count }, (_, i) => ({ title: `t${i}` })));
        const queries = await recordQueries(deps.current, () => anonymous().users.getWithPosts({ id: author.id, postsLimit: 50 }));
        expect(queries, `${count} posts`).toHaveLength(2);
      }
    });

    it('lists a page and its total in one query, with authors joined, not fetched per row', async () => {
      const author = await createUser(deps.current);
      await seedPosts(deps.current, author.id, Array.from({ length: 25 }, (_, i) => ({ title: `row ${i}` })));
      let page: Awaited<ReturnType<ReturnType<typeof anonymous>['posts']['list']>> | undefined;
      const queries = await recordQueries(deps.current, async () => {
        page = await anonymous().posts.list({ authorId: author.id, limit: 20 });
      });
      expect(queries).toHaveLength(1);
      expect(queries.join('\n')).toMatch(/join "users"|join `users`/i);
      expect(page!.items.map((post) => post.title)).toEqual(Array.from({ length: 20 }, (_, i) => `row ${24 - i}`));
      expect(page!.items[0]).not.toHaveProperty('total');
      expect({ total: page!.total, nextCursor: typeof page!.nextCursor }).toEqual({ total: 25, nextCursor: 'string' });
      // A page past the end has no row to carry the total: it is counted on its own.
      for (const request of [{ skip: 25 }, { cursor: page!.nextCursor!, limit: 5 }, { cursor: page!.nextCursor!, skip: 5 }]) {
        const past = await anonymous().posts.list({ authorId: author.id, ...request });
        expect({ items: past.items.length, total: past.total, totalIsLowerBound: past.totalIsLowerBound }, JSON.stringify(request)).toEqual({
          items: 'limit' in request ? 5 : 0,
          total: 25,
          totalIsLowerBound: false,
        });
      }
    });

    it('never reads a password hash, and reads post bodies only where they are returned', async () => {
      const { caller, user } = await signedInUser(deps.current);
      const post = await caller.posts.create({ title: 'shape', body: 'b', published: true });
      const readsBody = (selectLists: string[]) => selectLists.some((list) => /"body"|`body`/.test(list));
      const checks: [string, () => Promise<unknown>, boolean][] = [
        ['posts.create', () => caller.posts.create({ title: 't', body: 'b' }), true],
        ['posts.update', () => caller.posts.update({ id: post.id, title: 'u' }), true],
        ['posts.get', () => anonymous().posts.get({ id: post.id }), true],
        ['posts.list', () => caller.posts.list({}), false],
        ['posts.list with q', () => anonymous().posts.list({ q: 'shape' }), false],
        ['users.get', () => anonymous().users.get({ id: user.id }), false],
        ['users.getWithPosts', () => anonymous().users.getWithPosts({ id: user.id }), false],
        ['posts.delete', () => caller.posts.delete({ id: post.id }), false],
      ];
      for (const [name, run, returnsBody] of checks) {
        const queries = await recordQueries(deps.current, run);
        expect(queries.length, name).toBeGreaterThan(0);
        expect(queries.join('\n'), name).not.toMatch(/password_hash/);
        // Searching compares bodies in WHERE; what is read is the select list, which must not include it.
        const selects = queries.map((query) => query.split(/ from /i)[0]);
        expect(readsBody(selects), name).toBe(returnsBody);
      }
    });
  });
});
