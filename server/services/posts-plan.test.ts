// A signed-in reader's list (published posts and their own drafts) on both dialects, planned on a database
// without statistics, as a new install has: its page walks the (created_at, id) index and stops at the page. Read
// through both indexes (an OR), the planners merged every published post and every post of the reader and
// sorted them all, so each page cost in proportion to the table (23 ms at 40,000 posts in the soak's runs).
import { afterEach, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { newId, type Database } from '../../db/index.ts';
import type { Deps } from '../deps.ts';
import { openTestDatabase } from '../testing/database.ts';
import { dialects, useTestDeps } from '../testing/harness.ts';
import { createUser } from '../testing/factories.ts';
import { planOf } from '../testing/plans.ts';
import { listPosts } from './posts.ts';

describe.each(dialects)('a signed-in reader’s list on %s', (dialect) => {
  const deps = useTestDeps(dialect);

  it('walks the newest posts down their index instead of merging both indexes and sorting every match', async () => {
    const { db } = deps.current;
    const reader = await createUser(deps.current);
    const other = await createUser(deps.current);
    const base = Date.now();
    const rows = Array.from({ length: 2000 }, (_, i) => ({
      id: newId(),
      // The soak's reader: nearly every post is theirs.
      authorId: i % 20 === 0 ? other.id : reader.id,
      title: `post ${i}`,
      body: 'body',
      published: i % 10 !== 0,
      createdAt: new Date(base - i * 1000),
      updatedAt: new Date(base - i * 1000),
    }));
    for (let i = 0; i < rows.length; i += 500) await db.orm.insert(db.tables.posts).values(rows.slice(i, i + 500));

    const ran: { text: string; params: unknown[] }[] = [];
    const stop = db.onQuery((text, params) => ran.push({ text, params }));
    const page = await listPosts(deps.current, { id: reader.id, role: 'user' }, { skip: 0, limit: 20 });
    stop();
    // What the reader may see: published posts and their own drafts, newest first.
    const visible = rows.filter((row) => row.published || row.authorId === reader.id);
    expect(page.items.map((item) => item.id)).toEqual(visible.slice(0, 20).map((row) => row.id));

    const statements = ran.filter((statement) => /from "posts"/.test(statement.text));
    expect(statements.length).toBeGreaterThan(0);
    for (const { text, params } of statements) {
      const plan = await planOf(db, text, params);
      expect(plan, text).toMatch(dialect === 'sqlite' ? /SCAN|SEARCH/ : /Scan/);
      expect(plan, text).not.toMatch(dialect === 'sqlite' ? /MULTI-INDEX OR/ : /BitmapOr/);
    }
  });
});

// A list's statements are prepared once per database (db.prepared). Postgres planned them anew at every run, with
// that run's values (a custom plan): with `limit $n` the plan without values was always estimated dearer, since it
// must assume a tenth of the table, so it was never chosen (a third of Postgres' CPU under `posts.list` load).
// Written as `limit (select cast($n as bigint))` (plannedOnce), it is reused from the sixth run on. SQLite plans
// each prepared statement once anyway (db/sqlite-plan-once.test.ts); there the pages must simply be right.
describe.each(dialects)('a list’s prepared statement on %s', (dialect) => {
  let db: Database | null = null;
  afterEach(async () => {
    await db?.close();
    db = null;
  });

  it('pages right at every limit and offset, and Postgres reuses one plan for it', async () => {
    // One connection, so its prepared statements are the ones pg_prepared_statements shows.
    db = await openTestDatabase(dialect, { poolMax: 1 });
    const deps = { db } as unknown as Deps;
    const authorId = newId();
    const now = new Date();
    await db.orm.insert(db.tables.users).values({ id: authorId, username: `plan_${authorId.slice(0, 8)}`, email: `${authorId}@example.com`, passwordHash: 'x', createdAt: now, updatedAt: now });
    const rows = Array.from({ length: 2000 }, (_, i) => ({
      id: newId(),
      authorId,
      title: `post ${i}`,
      body: 'body',
      published: i % 10 !== 0,
      createdAt: new Date(now.getTime() - i * 1000),
      updatedAt: now,
    }));
    for (let i = 0; i < rows.length; i += 500) await db.orm.insert(db.tables.posts).values(rows.slice(i, i + 500));
    await db.analyze();
    const published = rows.filter((row) => row.published);

    for (const limit of [1, 20, 100, 20, 20, 20, 20, 20]) {
      const page = await listPosts(deps, null, { skip: 0, limit });
      expect(page.items.map((item) => item.id)).toEqual(published.slice(0, limit).map((row) => row.id));
      expect(page).toMatchObject({ total: 1000, totalIsLowerBound: true });
    }
    for (const skip of [1, 7, 40]) {
      const page = await listPosts(deps, null, { skip, limit: 5 });
      expect(page.items.map((item) => item.id)).toEqual(published.slice(skip, skip + 5).map((row) => row.id));
    }

    if (dialect === 'postgres') {
      const result = await db.orm.execute<{ name: string; generic_plans: string; custom_plans: string }>(
        sql`select name, generic_plans, custom_plans from pg_prepared_statements where name like 'posts_list_public%page'`,
      );
      const plans = Object.fromEntries(result.rows.map((row) => [row.name, { generic: Number(row.generic_plans), custom: Number(row.custom_plans) }]));
      // Five custom plans first, then the generic one for the three runs after them.
      expect(plans['posts_list_public_any_any_first_top_page']).toEqual({ generic: 3, custom: 5 });
    }
  });
});
