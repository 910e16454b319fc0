// SQLite statements planned once (db/sqlite-plan-once.ts): every bound parameter is written `+?`, so a prepared
// statement is not parsed and planned again at each run. The rewrite must leave what a statement means alone
// (the same answers on both dialects for the values the services bind) and touch only parameters.
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { and, asc, eq, gt, inArray, like, lt, or, sql } from 'drizzle-orm';
import type { SqliteRemoteDatabase } from 'drizzle-orm/sqlite-proxy';
import { newId, type Database } from './index.ts';
import { planOnce } from './sqlite-plan-once.ts';
import { dialects, openTestDatabase } from '../server/testing/database.ts';
import { planOf } from '../server/testing/plans.ts';

describe('planOnce', () => {
  it('writes each parameter as +? and nothing else', () => {
    expect(planOnce('select * from "t" where "a" = ? and "b" in (?, ?) limit ? offset ?')).toBe(
      'select * from "t" where "a" = +? and "b" in (+?, +?) limit +? offset +?',
    );
    expect(planOnce('insert into t (a, b) values (?, ?)')).toBe('insert into t (a, b) values (+?, +?)');
    expect(planOnce('select ?1, x-?, x+?')).toBe('select +?1, x-+?, x++?');
    expect(planOnce('select 1')).toBe('select 1');
  });

  it('leaves quoted text, identifiers and comments alone', () => {
    expect(planOnce("select 'a?b', 'it''s ?', ? from t")).toBe("select 'a?b', 'it''s ?', +? from t");
    expect(planOnce('select "odd?name", `odd?`, [odd?], "say ""?""" from t where x = ?')).toBe(
      'select "odd?name", `odd?`, [odd?], "say ""?""" from t where x = +?',
    );
    expect(planOnce('select ? -- why?\n, ? /* what? */ , ?')).toBe('select +? -- why?\n, +? /* what? */ , +?');
  });

  it('leaves a statement whose quote or comment never closes as it is from there on', () => {
    expect(planOnce("select ?, 'open ?")).toBe("select +?, 'open ?");
    expect(planOnce('select ? /* open ?')).toBe('select +? /* open ?');
    expect(planOnce('select ? -- to the end ?')).toBe('select +? -- to the end ?');
  });
});

describe('a SQLite statement planned once', () => {
  // A column whose values are skewed: with sqlite_stat4 samples SQLite plans `a = ?` by the value bound (and so
  // must plan the statement again at each run); `a = +?` is planned from the statistics alone, once.
  const skewed = ['create table t (id integer primary key, a text not null, b integer not null)', 'create index t_a on t (a)', 'create index t_b on t (b)'];
  const rows = Array.from({ length: 10_000 }, (_, i) => [i < 10 ? 'rare' : 'common', i % 100] as const);
  const text = 'select id from t where a = ? and b = ?';
  const raw = new BetterSqlite3(':memory:');
  let db: Database;
  beforeAll(async () => {
    for (const statement of skewed) raw.exec(statement);
    const insert = raw.prepare('insert into t (a, b) values (?, ?)');
    raw.transaction(() => rows.forEach((row) => insert.run(...row)))();
    raw.exec('analyze');

    db = await openTestDatabase('sqlite');
    const orm = db.orm as unknown as SqliteRemoteDatabase;
    for (const statement of skewed) await orm.run(sql.raw(statement));
    await orm.run(sql`insert into t (a, b) select value ->> 0, value ->> 1 from json_each(${JSON.stringify(rows)})`);
    await orm.run(sql`analyze`);
  });
  afterAll(async () => {
    raw.close();
    await db?.close();
  });
  const rawPlan = (statement: string, a: string) =>
    raw
      .prepare(`explain query plan ${statement}`)
      .all(a, 5)
      .map((row) => (row as { detail: string }).detail)
      .join('\n');

  it('has one plan whatever the values bound', async () => {
    // As written, the plan follows the value: what made SQLite parse and plan it again at every run.
    expect(rawPlan(text, 'rare')).not.toBe(rawPlan(text, 'common'));
    expect(rawPlan(planOnce(text), 'rare')).toBe(rawPlan(planOnce(text), 'common'));
    // Every statement the app prepares is written so.
    expect(await planOf(db, text, ['rare', 5])).toBe(await planOf(db, text, ['common', 5]));
  });
});

describe.each(dialects)('bound parameters on %s', (dialect) => {
  let db: Database;
  const authorId = newId();
  const titles = ['100% sure', 'snake_case', 'back\\slash', 'Ünïcode', 'plain', "it's"];
  const base = Date.UTC(2026, 0, 1);
  beforeAll(async () => {
    db = await openTestDatabase(dialect);
    const { users, posts } = db.tables;
    const now = new Date(base);
    await db.orm.insert(users).values({ id: authorId, username: `params_${dialect}`, email: `params_${dialect}@example.com`, passwordHash: 'x', createdAt: now, updatedAt: now });
    await db.orm.insert(posts).values(
      titles.map((title, i) => ({ id: newId(), authorId, title, body: i % 2 ? '' : `body ${i}`, published: i % 2 === 0, createdAt: new Date(base + i * 1000), updatedAt: now })),
    );
  });
  afterAll(async () => {
    await db?.close();
  });

  const titlesWhere = async (where: ReturnType<typeof and>, limit = 100, offset = 0) => {
    const { posts, users } = db.tables;
    const rows = await db.orm
      .select({ title: posts.title })
      .from(posts)
      .innerJoin(users, eq(users.id, posts.authorId))
      .where(and(eq(users.id, authorId), where))
      .orderBy(asc(posts.createdAt))
      .limit(limit)
      .offset(offset);
    return rows.map((row) => row.title);
  };

  it('compare, match and page as the values say', async () => {
    const { posts } = db.tables;
    expect(await titlesWhere(eq(posts.published, true))).toEqual(['100% sure', 'back\\slash', 'plain']);
    expect(await titlesWhere(eq(posts.published, false))).toEqual(['snake_case', 'Ünïcode', "it's"]);
    expect(await titlesWhere(gt(posts.createdAt, new Date(base + 3000)))).toEqual(['plain', "it's"]);
    expect(await titlesWhere(lt(posts.createdAt, new Date(base + 1000)))).toEqual(['100% sure']);
    expect(await titlesWhere(inArray(posts.title, ['plain', "it's", 'missing']))).toEqual(['plain', "it's"]);
    expect(await titlesWhere(sql`${posts.title} like ${'snake\\_%'} escape '\\'`)).toEqual(['snake_case']);
    expect(await titlesWhere(like(posts.title, 'plai%'))).toEqual(['plain']);
    expect(await titlesWhere(or(eq(posts.body, ''), eq(posts.body, 'body 0')))).toEqual(['100% sure', 'snake_case', 'Ünïcode', "it's"]);
    expect(await titlesWhere(sql`${posts.title} = ${'Ünïcode'}`)).toEqual(['Ünïcode']);
    expect(await titlesWhere(undefined, 2, 3)).toEqual(['Ünïcode', 'plain']);
  });

  it('reads a lookup of a join by key', async () => {
    const { posts, users } = db.tables;
    const ran: { text: string; params: unknown[] }[] = [];
    const stop = db.onQuery((text, params) => ran.push({ text, params }));
    const [row] = await db.orm
      .select({ title: posts.title, username: users.username })
      .from(posts)
      .innerJoin(users, eq(users.id, posts.authorId))
      .where(and(eq(posts.authorId, authorId), eq(posts.title, 'plain')))
      .limit(1);
    stop();
    expect(row).toEqual({ title: 'plain', username: `params_${dialect}` });
    const [{ text, params }] = ran;
    if (dialect === 'sqlite') expect(text).toContain('?');
    expect(await planOf(db, text, params)).not.toMatch(/SCAN users|Seq Scan on users/);
  });
});
