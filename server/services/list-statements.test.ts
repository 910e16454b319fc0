// tasks.list and users.list without `q` run statements prepared once per database, one per shape (who sees what,
// which filters, a cursor or a skip), with a task's status and a user's role and activity written in as constants
// (fixedValue). On Postgres a statement built at every run was parsed and planned at every run; prepared, it is
// planned from its sixth run on with one generic plan. Pages must be right for every shape on both dialects.
import { afterEach, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { newId, TASK_STATUSES, type Database, type TaskStatus } from '../../db/index.ts';
import type { Deps } from '../deps.ts';
import { openTestDatabase } from '../testing/database.ts';
import { dialects } from '../testing/harness.ts';
import { fixedValue, TOTAL_CAP } from './pages.ts';
import { listTasks } from './tasks.ts';
import { listUsers } from './users.ts';

const page = <T extends { id: string }>(rows: T[], skip: number, limit: number) => rows.slice(skip, skip + limit).map((row) => row.id);
const totalOf = (n: number) => (n > TOTAL_CAP ? { total: TOTAL_CAP, totalIsLowerBound: true } : { total: n, totalIsLowerBound: false });

describe.each(dialects)('tasks.list and users.list statements on %s', (dialect) => {
  let db: Database | null = null;
  afterEach(async () => {
    await db?.close();
    db = null;
  });

  it('page right for every filter, limit, skip and cursor, and Postgres reuses one plan per shape', async () => {
    // One connection, so its prepared statements are the ones pg_prepared_statements shows.
    db = await openTestDatabase(dialect, { poolMax: 1 });
    const deps = { db } as unknown as Deps;
    const base = Date.now();
    const users = Array.from({ length: 60 }, (_, i) => ({
      id: newId(),
      username: `lists_${i}_${newId().slice(0, 6)}`,
      email: `lists_${i}_${newId().slice(0, 6)}@example.com`,
      passwordHash: 'x',
      role: i % 9 === 0 ? ('admin' as const) : ('user' as const),
      isActive: i % 4 !== 0,
      createdAt: new Date(base - i * 1000),
      updatedAt: new Date(base),
    }));
    await db.orm.insert(db.tables.users).values(users);
    const [owner, other] = users;
    // Past the cap for the owner's list, with every status and both users, newest first by index.
    const tasks = Array.from({ length: 1300 }, (_, i) => ({
      id: newId(),
      userId: i % 3 === 0 ? other.id : owner.id,
      type: i % 2 === 0 ? 'math.sum' : 'text.analyze',
      input: { numbers: [i] },
      status: TASK_STATUSES[i % TASK_STATUSES.length],
      attempts: 0,
      createdAt: new Date(base - i * 1000),
    }));
    for (let i = 0; i < tasks.length; i += 500) await db.orm.insert(db.tables.tasks).values(tasks.slice(i, i + 500));
    await db.analyze();

    const ownTasks = tasks.filter((task) => task.userId === owner.id);
    const asOwner = { id: owner.id, role: 'user' as const };
    for (const limit of [1, 20, 100, 20, 20, 20, 20, 20]) {
      const got = await listTasks(deps, asOwner, { skip: 0, limit });
      expect(got.items.map((item) => item.id)).toEqual(page(ownTasks, 0, limit));
      expect(got).toMatchObject(totalOf(ownTasks.length));
    }
    for (const status of TASK_STATUSES) {
      const matching = (rows: typeof tasks) => rows.filter((task) => task.status === status);
      const mine = await listTasks(deps, asOwner, { skip: 3, limit: 7, status });
      expect(mine.items.map((item) => item.id)).toEqual(page(matching(ownTasks), 3, 7));
      expect(mine).toMatchObject(totalOf(matching(ownTasks).length));
      const everyone = await listTasks(deps, { id: other.id, role: 'admin' }, { skip: 0, limit: 5, status, type: 'math.sum', userId: other.id });
      const expected = matching(tasks).filter((task) => task.userId === other.id && task.type === 'math.sum');
      expect(everyone.items.map((item) => item.id)).toEqual(page(expected, 0, 5));
      expect(everyone).toMatchObject(totalOf(expected.length));
    }
    // Cursor pages walk the whole list without a gap or a repeat.
    const walked: string[] = [];
    let cursor: string | undefined;
    do {
      const got = await listTasks(deps, { id: owner.id, role: 'admin' }, { skip: 0, limit: 250, cursor, status: 'queued' });
      walked.push(...got.items.map((item) => item.id));
      cursor = got.nextCursor ?? undefined;
    } while (cursor);
    expect(walked).toEqual(tasks.filter((task) => task.status === 'queued').map((task) => task.id));
    // Past the end: the page is empty and the total is counted on its own.
    const beyond = await listTasks(deps, asOwner, { skip: 2000, limit: 5, status: 'failed' });
    expect(beyond).toMatchObject({ items: [], ...totalOf(ownTasks.filter((task) => task.status === 'failed').length) });

    for (const limit of [1, 20, 100, 20, 20, 20, 20, 20]) {
      const got = await listUsers(deps, { skip: 0, limit });
      expect(got.items.map((item) => item.id)).toEqual(page(users, 0, limit));
      expect(got).toMatchObject(totalOf(users.length));
    }
    for (const role of ['admin', 'user'] as const) {
      for (const isActive of [true, false, undefined]) {
        const expected = users.filter((user) => user.role === role && (isActive === undefined || user.isActive === isActive));
        const first = await listUsers(deps, { skip: 1, limit: 3, role, isActive });
        expect(first.items.map((item) => item.id)).toEqual(page(expected, 1, 3));
        expect(first).toMatchObject(totalOf(expected.length));
        const next = first.nextCursor ? await listUsers(deps, { skip: 0, limit: 3, role, isActive, cursor: first.nextCursor }) : null;
        if (next) expect(next.items.map((item) => item.id)).toEqual(page(expected, 4, 3));
      }
    }

    if (dialect === 'postgres') {
      const result = await db.orm.execute<{ name: string; generic_plans: string; custom_plans: string }>(
        sql`select name, generic_plans, custom_plans from pg_prepared_statements where name in ('tasks_list_own_any_any_any_first_top_page', 'users_list_any_any_first_top_page')`,
      );
      const plans = Object.fromEntries(result.rows.map((row) => [row.name, { generic: Number(row.generic_plans), custom: Number(row.custom_plans) }]));
      // Five custom plans first, then the generic one for the three runs after them.
      expect(plans).toEqual({
        tasks_list_own_any_any_any_first_top_page: { generic: 3, custom: 5 },
        users_list_any_any_first_top_page: { generic: 3, custom: 5 },
      });
    }
  });
});

describe('fixedValue', () => {
  it('writes only values from its closed list into a statement', () => {
    const column = { name: 'status' } as Parameters<typeof fixedValue>[0];
    expect(() => fixedValue(column, "queued' or '1'='1" as TaskStatus, TASK_STATUSES)).toThrow(/not a value of status/);
    expect(() => fixedValue(column, 'queued', TASK_STATUSES)).not.toThrow();
  });
});
