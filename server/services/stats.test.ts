// admin.stats' row counts on both dialects: what db.tableCounts() says equals count(*) after every kind of write.
import { describe, expect, it } from 'vitest';
import { and, count, eq, sql } from 'drizzle-orm';
import { TASK_STATUSES } from '../../db/index.ts';
import { dialects, useTestDeps } from '../testing/harness.ts';
import { createUser, signedInUser } from '../testing/factories.ts';
import type { Deps } from '../deps.ts';
import { getStats } from './stats.ts';

async function counted(deps: Deps) {
  const { users, posts, tasks } = deps.db.tables;
  const { orm } = deps.db;
  const [[u], [ua], [p], [pp], byStatus] = await Promise.all([
    orm.select({ n: count() }).from(users),
    orm.select({ n: count() }).from(users).where(eq(users.isActive, true)),
    orm.select({ n: count() }).from(posts),
    orm.select({ n: count() }).from(posts).where(eq(posts.published, true)),
    orm.select({ status: tasks.status, n: count() }).from(tasks).groupBy(tasks.status),
  ]);
  const statuses = Object.fromEntries(TASK_STATUSES.map((status) => [status, byStatus.find((row) => row.status === status)?.n ?? 0]));
  return { users: { total: u.n, active: ua.n }, posts: { total: p.n, published: pp.n }, tasks: statuses };
}

/** Postgres reuses its counts for up to a second: poll until they catch up (or the deadline says they never do). */
async function expectCountsMatch(deps: Deps): Promise<void> {
  const expected = await counted(deps);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const stats = await getStats(deps);
    const actual = { users: stats.users, posts: stats.posts, tasks: stats.tasks };
    if (JSON.stringify(actual) === JSON.stringify(expected) || Date.now() > deadline) {
      expect(actual).toEqual(expected);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.each(dialects)('admin.stats counts on %s', (dialect) => {
  const deps = useTestDeps(dialect);

  it('stay equal to count(*) through inserts, updates, deletes and cascades', async () => {
    const admin = await signedInUser(deps.current, { role: 'admin' });
    const author = await signedInUser(deps.current);
    const idle = await createUser(deps.current, { isActive: false });
    await expectCountsMatch(deps.current);

    const first = await author.caller.posts.create({ title: 'one', body: 'b', published: true });
    const second = await author.caller.posts.create({ title: 'two', body: 'b' });
    await author.caller.posts.update({ id: second.id, published: true });
    await author.caller.posts.update({ id: first.id, published: false });
    await author.caller.posts.update({ id: first.id, title: 'renamed' });
    await admin.caller.users.setActive({ id: idle.id, isActive: true });
    const { tasks } = deps.current.db.tables;
    const [task] = await deps.current.db.orm
      .insert(tasks)
      .values([
        { userId: author.user.id, type: 'math.sum', input: { numbers: [1] }, createdAt: new Date() },
        { userId: admin.user.id, type: 'math.sum', input: { numbers: [2] }, createdAt: new Date(), status: 'completed' },
      ])
      .returning({ id: tasks.id });
    await deps.current.db.orm.update(tasks).set({ status: 'running' }).where(eq(tasks.id, task.id));
    await deps.current.db.orm.update(tasks).set({ attempts: sql`${tasks.attempts} + 1` }).where(eq(tasks.id, task.id));
    await expectCountsMatch(deps.current);

    // Statements that write many posts at once, from several connections at a time (Postgres keeps its counts
    // per statement, in shards by connection).
    const { posts } = deps.current.db.tables;
    const many = (n: number, published: boolean) =>
      Array.from({ length: n }, (_, i) => ({ authorId: admin.user.id, title: `bulk ${i}`, body: 'b', published, createdAt: new Date(), updatedAt: new Date() }));
    await Promise.all([true, false, true, true].map((published, i) => deps.current.db.orm.insert(posts).values(many(3 + i, published))));
    await deps.current.db.orm.update(posts).set({ published: sql`not ${posts.published}` }).where(eq(posts.authorId, admin.user.id));
    await expectCountsMatch(deps.current);
    await deps.current.db.orm.delete(posts).where(and(eq(posts.authorId, admin.user.id), eq(posts.published, true)));
    await expectCountsMatch(deps.current);

    await author.caller.posts.delete({ id: second.id });
    // Deactivating ends the author's sessions: their caller is not used after this.
    await admin.caller.users.setActive({ id: author.user.id, isActive: false });
    await expectCountsMatch(deps.current);
    await admin.caller.users.setActive({ id: author.user.id, isActive: true });
    // The author's remaining post and task go with the account (foreign-key cascades).
    await admin.caller.users.delete({ id: author.user.id });
    await expectCountsMatch(deps.current);
  });
});
