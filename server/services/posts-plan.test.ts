// A signed-in reader's list (published posts and their own drafts) on both dialects, planned on a database
// without statistics, as a new install has: its page walks the (created_at, id) index and stops at the page. Read
// through both indexes (an OR), the planners merged every published post and every post of the reader and
// sorted them all, so each page cost in proportion to the table (23 ms at 40,000 posts in the soak's runs).
import { describe, expect, it } from 'vitest';
import { newId } from '../../db/index.ts';
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
