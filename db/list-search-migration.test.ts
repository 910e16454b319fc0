// The lists-and-search migrations on a database that already has posts, users and tasks: the search indexes of
// posts and users (FTS5 on SQLite) and the kept counts (table_counts on SQLite) are filled for the old rows, on both dialects.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { and, eq } from 'drizzle-orm';
import { openDatabase, type Database } from './index.ts';
import { openSqlite } from './sqlite.ts';
import { openPostgres } from './postgres.ts';
import { POSTGRES_DEFAULTS } from './postgres-settings.ts';
import { canVaryPostgres, dialects } from '../server/testing/harness.ts';
import { openTestDatabase } from '../server/testing/database.ts';
import { migrationsBefore } from '../server/testing/migrations.ts';

const quiet = { logQuery: () => {} };
const scratch = mkdtempSync(join(tmpdir(), 'abs-list-search-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));


const OLD_POSTS = [
  ['old-p1', 'Überschrift about QUOKKAS', 'first body', true],
  ['old-p2', 'second', 'a body with 100% of a quokka', false],
  ['old-p3', 'third', 'nothing to see', true],
] as const;

const insertUser = (placeholders: string[]) =>
  `insert into users (id, username, email, full_name, password_hash, role, is_active, created_at, updated_at) values (${placeholders.join(', ')})`;
const insertPost = (placeholders: string[]) => `insert into posts (id, author_id, title, body, published, created_at, updated_at) values (${placeholders.join(', ')})`;
const insertTask = (placeholders: string[]) => `insert into tasks (id, user_id, type, input, status, attempts, created_at) values (${placeholders.join(', ')})`;

/** A database migrated up to list_indexes, with rows in it; then the rest of the migrations. */
async function upgradedWithOldRows(dialect: 'sqlite' | 'postgres'): Promise<Database> {
  const before = migrationsBefore(dialect, 'list_indexes', scratch);
  const now = Date.now();
  if (dialect === 'sqlite') {
    const path = join(scratch, 'app.db');
    const old = openSqlite(path, quiet);
    await old.migrate(before);
    old.raw.prepare(insertUser(Array<string>(9).fill('?'))).run('old-u1', 'old_one', 'old1@example.com', 'Ödön Older', 'x', 'user', 1, now, now);
    old.raw.prepare(insertUser(Array<string>(9).fill('?'))).run('old-u2', 'old_two', 'old2@example.com', null, 'x', 'user', 0, now, now);
    for (const [id, title, body, published] of OLD_POSTS) old.raw.prepare(insertPost(Array<string>(7).fill('?'))).run(id, 'old-u1', title, body, published ? 1 : 0, now, now);
    old.raw.prepare(insertTask(Array<string>(7).fill('?'))).run('old-t1', 'old-u1', 'math.sum', '{"numbers":[1]}', 'completed', 1, now);
    old.close();
    const db = await openDatabase({ url: `file:${path}` });
    await db.migrate();
    return db;
  }
  const fresh = await openTestDatabase('postgres', { migrated: false });
  if (fresh.source.kind !== 'postgres') throw new Error('expected a Postgres server');
  const old = await openPostgres({ ...POSTGRES_DEFAULTS, url: fresh.source.url, onPoolError: () => {} }, quiet);
  await old.migrate(before);
  const numbered = (n: number) => Array.from({ length: n }, (_, i) => `$${i + 1}`);
  await old.pool.query(insertUser(numbered(9)), ['old-u1', 'old_one', 'old1@example.com', 'Ödön Older', 'x', 'user', true, new Date(now), new Date(now)]);
  await old.pool.query(insertUser(numbered(9)), ['old-u2', 'old_two', 'old2@example.com', null, 'x', 'user', false, new Date(now), new Date(now)]);
  for (const [id, title, body, published] of OLD_POSTS) await old.pool.query(insertPost(numbered(7)), [id, 'old-u1', title, body, published, new Date(now), new Date(now)]);
  await old.pool.query(insertTask(numbered(7)), ['old-t1', 'old-u1', 'math.sum', '{"numbers":[1]}', 'completed', 1, new Date(now)]);
  await old.close();
  await fresh.migrate();
  return fresh;
}

describe.each(dialects)('the lists and search migrations on %s', (dialect) => {
  it.runIf(dialect === 'sqlite' || canVaryPostgres())('index the posts and users already there and count the rows already there', async () => {
    const db = await upgradedWithOldRows(dialect);
    try {
      expect(await db.pendingMigrations()).toBe(0);
      const { posts } = db.tables;
      const found = async (q: string) => {
        const indexed = await db.postsSearch(q).indexed(10);
        if (!indexed) throw new Error(`${q}: the index found more than 10 posts`);
        const rows = await db.orm.select({ id: posts.id }).from(posts).where(indexed).orderBy(posts.id);
        return { ids: rows.map((row) => row.id) };
      };
      expect(await found('quokka')).toEqual({ ids: ['old-p1', 'old-p2'] });
      expect(await found('überschrift')).toEqual({ ids: ['old-p1'] });
      expect(await found('100% OF')).toEqual({ ids: ['old-p2'] });
      expect(await found('nothing to')).toEqual({ ids: ['old-p3'] });
      expect(await db.postsSearch('quokka').indexed(1)).toBeNull();
      // The users' search index (migration 0012) holds the users already there: usernames, e-mails and names.
      const { users } = db.tables;
      const usersFound = async (q: string) => {
        const indexed = await db.usersSearch(q).indexed(10);
        if (!indexed) throw new Error(`${q}: the users index was not asked, or found more than 10 users`);
        return (await db.orm.select({ id: users.id }).from(users).where(indexed).orderBy(users.id)).map((row) => row.id);
      };
      expect(await usersFound('OLD_')).toEqual(['old-u1', 'old-u2']);
      expect(await usersFound('d2@example')).toEqual(['old-u2']);
      expect(await usersFound('ödön o')).toEqual(['old-u1']);
      // Old rows stay in step after the upgrade too.
      await db.orm.update(posts).set({ body: 'a quokka now' }).where(and(eq(posts.id, 'old-p3')));
      expect((await found('quokka')).ids).toEqual(['old-p1', 'old-p2', 'old-p3']);
      expect(await db.tableCounts()).toEqual({
        users: { total: 2, active: 1 },
        posts: { total: 3, published: 2 },
        tasks: { queued: 0, running: 0, completed: 1, failed: 0, cancelled: 0 },
      });
    } finally {
      await db.close();
    }
  });
});
