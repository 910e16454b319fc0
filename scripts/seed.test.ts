// The demo seeder on both dialects: the counts asked for, usable accounts, searchable posts.
import { describe, expect, it } from 'vitest';
import { count, eq, sql } from 'drizzle-orm';
import type { SqliteRemoteDatabase } from 'drizzle-orm/sqlite-proxy';
import { callerFor, dialects, useTestDeps } from '../server/testing/harness.ts';
import { SEED_PASSWORD, seed } from './seed.ts';

describe.each(dialects)('seed on %s', (dialect) => {
  const deps = useTestDeps(dialect);

  it('inserts the users and posts asked for, who can log in and whose posts can be searched', async () => {
    // One full batch (a statement prepared once) and a shorter last one (built as it comes).
    const result = await seed(deps.current.db, { users: 30, posts: 2700 }, { prefix: 'demo', quiet: true });
    expect(result).toMatchObject({ users: 30, posts: 2700 });
    const { users, posts } = deps.current.db.tables;
    const [{ total }] = await deps.current.db.orm.select({ total: count() }).from(posts);
    expect(total).toBe(2700);
    const [{ published }] = await deps.current.db.orm.select({ published: count() }).from(posts).where(eq(posts.published, true));
    expect(published / 2700).toBeGreaterThan(0.8);
    expect(new Set((await deps.current.db.orm.select({ id: posts.id }).from(posts)).map((row) => row.id)).size).toBe(2700);
    const login = await callerFor(deps.current).auth.login({ usernameOrEmail: 'demo_user_7', password: SEED_PASSWORD });
    expect(login.user.username).toBe('demo_user_7');
    const found = await callerFor(deps.current).posts.list({ q: 'data' });
    expect(found.total).toBeGreaterThan(0);
    expect(found.total).toBeLessThan(2700);
    expect((await deps.current.db.orm.select({ id: users.id }).from(users)).length).toBeGreaterThanOrEqual(30);
    // The search index was built after the load and is kept row by row again: a later post is found.
    const [author] = await deps.current.db.orm.select({ id: users.id }).from(users).limit(1);
    const now = new Date();
    await deps.current.db.orm.insert(posts).values({ authorId: author.id, title: 'After the seed: Marmalade', body: '', published: true, createdAt: now, updatedAt: now });
    expect((await callerFor(deps.current).posts.list({ q: 'marmalade' })).items.map((post) => post.title)).toEqual(['After the seed: Marmalade']);
    // So are admin.stats' counts (on SQLite counted once after the load, then kept by their trigger again).
    expect((await deps.current.db.tableCounts()).posts).toEqual({ total: 2701, published: published + 1 });
    if (dialect === 'sqlite') {
      // The index was built in large pieces (FTS5's hashsize) and takes rows in FTS5's own as they come again.
      const orm = deps.current.db.orm as unknown as SqliteRemoteDatabase;
      expect(await orm.all(sql`select k, v from posts_fts_config where k = 'hashsize'`)).toEqual([['hashsize', 2 ** 20]]);
    }
  });
});
