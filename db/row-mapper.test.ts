// Prepared selects map their rows with a mapper made once for their fields (db/row-mapper.ts): every shape of
// select the services prepare must come back exactly as drizzle's own mapping gives it, on both dialects.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { desc, eq, sql } from 'drizzle-orm';
import { newId, type Database } from './index.ts';
import { mapRowsOnce } from './row-mapper.ts';
import { dialects, openTestDatabase } from '../server/testing/database.ts';

describe.each(dialects)('prepared selects mapped once on %s', (dialect) => {
  let db: Database;
  const [ada, bob] = [newId(), newId()];
  const base = Date.UTC(2026, 0, 1);
  beforeAll(async () => {
    db = await openTestDatabase(dialect);
    const { users, posts, tasks } = db.tables;
    const at = (seconds: number) => new Date(base + seconds * 1000);
    await db.orm.insert(users).values([
      { id: ada, username: `ada_${dialect}`, email: `ada_${dialect}@example.com`, fullName: 'Ada', passwordHash: 'x', createdAt: at(0), updatedAt: at(0) },
      // No full name, never welcomed, inactive: nulls and a false among the values.
      { id: bob, username: `bob_${dialect}`, email: `bob_${dialect}@example.com`, passwordHash: 'x', isActive: false, createdAt: at(1), updatedAt: at(1) },
    ]);
    await db.orm.insert(posts).values([
      { id: newId(), authorId: ada, title: 'first', body: 'x'.repeat(300), published: true, createdAt: at(2), updatedAt: at(3) },
      { id: newId(), authorId: ada, title: 'second', body: '', published: false, createdAt: at(4), updatedAt: at(4) },
    ]);
    await db.orm.insert(tasks).values([
      { id: newId(), userId: ada, type: 'math.sum', input: { numbers: [1, 2], nested: { ok: true } }, result: { sum: 3 }, status: 'completed', attempts: 1, createdAt: at(5), startedAt: at(6), finishedAt: at(7) },
      { id: newId(), userId: bob, type: 'text.analyze', input: ['a', null], createdAt: at(8) },
    ]);
  });
  afterAll(async () => {
    await db?.close();
  });

  // Each select twice: prepared as drizzle maps it, and prepared and mapped once. Names are per test database.
  const shapes: Record<string, (orm: Database['orm'], tables: Database['tables']) => { prepare: (name: string) => { execute: (values?: Record<string, unknown>) => Promise<unknown> } }> = {
    'columns of every kind': (orm, { users }) => orm.select().from(users).orderBy(users.createdAt),
    'nested objects, an inner join, SQL fields with and without a decoder': (orm, { posts, users }) =>
      orm
        .select({
          id: posts.id,
          excerpt: sql<string>`substr(${posts.body}, 1, 20)`,
          length: sql<number>`length(${posts.body})`.mapWith(Number),
          published: posts.published,
          createdAt: posts.createdAt,
          author: { id: users.id, username: users.username, fullName: users.fullName, active: users.isActive },
          total: sql<number>`count(*) over ()`.mapWith(Number),
        })
        .from(posts)
        .innerJoin(users, eq(users.id, posts.authorId))
        .orderBy(desc(posts.createdAt)),
    'a left join whose other side is missing (its object null), and JSON': (orm, { users, tasks }) =>
      orm
        .select({ username: users.username, task: { id: tasks.id, input: tasks.input, result: tasks.result, startedAt: tasks.startedAt } })
        .from(users)
        .leftJoin(tasks, sql`${tasks.userId} = ${users.id} and ${tasks.status} = 'completed'`)
        .orderBy(users.createdAt),
    'a whole joined table, and an aliased field': (orm, { users, posts }) =>
      orm
        .select({ user: users, post: posts, lower: sql<string>`lower(${posts.title})`.as('lower_title') })
        .from(users)
        .leftJoin(posts, eq(posts.authorId, users.id))
        .orderBy(users.createdAt, posts.createdAt),
    'placeholders': (orm, { posts }) => orm.select({ title: posts.title, updatedAt: posts.updatedAt }).from(posts).where(eq(posts.authorId, sql.placeholder('author'))),
  };

  it.each(Object.keys(shapes))('maps %s as drizzle does', async (shape) => {
    const index = Object.keys(shapes).indexOf(shape);
    const theirs = shapes[shape](db.orm, db.tables).prepare(`drizzle_mapped_${index}`);
    const ours = mapRowsOnce(shapes[shape](db.orm, db.tables).prepare(`mapped_once_${index}`));
    const values = { author: ada };
    const expected = await theirs.execute(values);
    expect((expected as unknown[]).length).toBeGreaterThan(0);
    expect(await ours.execute(values)).toEqual(expected);
  });

  it('answers the shapes it was checked on with the values they hold', async () => {
    const rows = (await mapRowsOnce(shapes['a left join whose other side is missing (its object null), and JSON'](db.orm, db.tables).prepare('mapped_once_left')).execute()) as {
      username: string;
      task: { input: unknown; startedAt: Date | null } | null;
    }[];
    expect(rows).toEqual([
      { username: `ada_${dialect}`, task: expect.objectContaining({ input: { numbers: [1, 2], nested: { ok: true } }, startedAt: new Date(base + 6000) }) },
      { username: `bob_${dialect}`, task: null },
    ]);
  });

  it('goes through the app database’s prepared statements', async () => {
    const { users } = db.tables;
    const query = db.prepared('row_mapper_app', (orm) => orm.select({ name: users.username, active: users.isActive }).from(users).orderBy(users.createdAt));
    expect((query as unknown as { customResultMapper?: unknown }).customResultMapper).toBeTypeOf('function');
    expect(await query.execute()).toEqual([
      { name: `ada_${dialect}`, active: true },
      { name: `bob_${dialect}`, active: false },
    ]);
  });
});

// Only SQLite's prepared selects have get(): it hands a custom mapper its one row inside an array.
describe('a prepared SQLite get() mapped once', () => {
  let db: Database;
  beforeAll(async () => {
    db = await openTestDatabase('sqlite');
    const { users } = db.tables;
    await db.orm.insert(users).values({ id: newId(), username: 'only', email: 'only@example.com', passwordHash: 'x', createdAt: new Date(Date.UTC(2026, 0, 1)), updatedAt: new Date(0) });
  });
  afterAll(async () => {
    await db?.close();
  });

  it('maps the one row as itself, as drizzle does', async () => {
    const { users } = db.tables;
    type Gettable = { prepare: (name: string) => { get: () => Promise<unknown> } };
    const build = () => db.orm.select({ name: users.username, createdAt: users.createdAt }).from(users) as unknown as Gettable;
    const theirs = build().prepare('get_drizzle');
    const ours = mapRowsOnce(build().prepare('get_once'));
    expect(await ours.get()).toEqual(await theirs.get());
    expect(await ours.get()).toEqual({ name: 'only', createdAt: new Date(Date.UTC(2026, 0, 1)) });
  });
});
