// The data layer on both dialects: migrations, transactions, unique violations and query events.
import { describe, expect, it } from 'vitest';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { findUniqueViolation, openDatabase } from './index.ts';
import { dialects, useTestDeps } from '../server/testing/harness.ts';
import { openTestDatabase } from '../server/testing/database.ts';

const user = (name: string, email = `${name.toLowerCase()}@example.com`) => ({ username: name, email, passwordHash: 'x' });

describe.each(dialects)('database on %s', (dialect) => {
  const deps = useTestDeps(dialect);

  it('is migrated to the newest committed migration', async () => {
    expect(deps.current.db.dialect).toBe(dialect);
    expect(await deps.current.db.pendingMigrations()).toBe(0);
    await deps.current.db.migrate(); // applying again is a no-op
    expect(await deps.current.db.pendingMigrations()).toBe(0);
  });

  it('round-trips dates, booleans and nulls the same way', async () => {
    const { orm, tables } = deps.current.db;
    const createdAt = new Date('2026-01-02T03:04:05.678Z');
    const [row] = await orm.insert(tables.users).values({ ...user('Roundtrip'), createdAt }).returning();
    expect(row.createdAt).toEqual(createdAt);
    expect(row.isActive).toBe(true);
    expect(row.fullName).toBeNull();
    expect(row.role).toBe('user');
    const [read] = await orm.select().from(tables.users).where(eq(tables.users.id, row.id));
    expect(read).toEqual(row);
  });

  it('commits a transaction and rolls one back when its callback throws', async () => {
    const { orm, tables, transaction } = deps.current.db;
    await transaction(async (tx) => {
      await tx.insert(tables.users).values(user('Committed'));
    });
    await expect(
      transaction(async (tx) => {
        await tx.insert(tables.users).values(user('RolledBack'));
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    const names = (await orm.select({ username: tables.users.username }).from(tables.users)).map((row) => row.username);
    expect(names).toContain('Committed');
    expect(names).not.toContain('RolledBack');
  });

  it('keeps concurrent callers out of an open transaction', async () => {
    const { orm, tables, transaction } = deps.current.db;
    let release = () => {};
    const paused = new Promise<void>((resolve) => (release = resolve));
    let inserted = () => {};
    const insertedInTx = new Promise<void>((resolve) => (inserted = resolve));
    // A transaction that pauses between statements and then rolls back…
    const rolledBack = transaction(async (tx) => {
      await tx.insert(tables.users).values(user('InsideTx'));
      inserted();
      await paused;
      throw new Error('roll back');
    }).catch((error: Error) => error.message);
    await insertedInTx;
    // …must not take another caller's statement down with it, nor let it see uncommitted rows.
    // (drizzle queries start when awaited; .then() starts them now, while the transaction is open)
    const outside = orm.insert(tables.users).values(user('OutsideTx')).returning({ id: tables.users.id }).then((rows) => rows);
    const peek = orm.select({ username: tables.users.username }).from(tables.users).where(eq(tables.users.username, 'InsideTx')).then((rows) => rows);
    release();
    expect(await rolledBack).toBe('roll back');
    expect(await outside).toHaveLength(1);
    expect(await peek).toEqual([]);
    const rows = await orm.select({ username: tables.users.username }).from(tables.users).where(sql`${tables.users.username} in ('InsideTx', 'OutsideTx')`);
    expect(rows.map((row) => row.username)).toEqual(['OutsideTx']);
  });

  it('runs many concurrent transactions without interleaving them', async () => {
    const { orm, tables, transaction } = deps.current.db;
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        transaction(async (tx) => {
          await tx.insert(tables.users).values(user(`Many${i}`));
          await new Promise((resolve) => setImmediate(resolve));
          if (i % 2 === 1) throw new Error('odd ones roll back');
          await tx.update(tables.users).set({ fullName: 'kept' }).where(eq(tables.users.username, `Many${i}`));
        }),
      ),
    );
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(10);
    const rows = await orm.select({ username: tables.users.username, fullName: tables.users.fullName }).from(tables.users).where(sql`${tables.users.username} like 'Many%'`);
    expect(rows).toHaveLength(10);
    expect(rows.every((row) => row.fullName === 'kept' && Number(row.username.slice(4)) % 2 === 0)).toBe(true);
  });

  it('names the field of a unique violation, case-insensitively for usernames', async () => {
    const { orm, tables } = deps.current.db;
    await orm.insert(tables.users).values(user('Unique', 'unique@example.com'));
    const byName = await orm.insert(tables.users).values(user('UNIQUE', 'other@example.com')).catch((error: unknown) => error);
    expect(findUniqueViolation(byName)).toEqual({ table: 'users', field: 'username' });
    const byEmail = await orm.insert(tables.users).values(user('Unique2', 'unique@example.com')).catch((error: unknown) => error);
    expect(findUniqueViolation(byEmail)).toEqual({ table: 'users', field: 'email' });
    expect(findUniqueViolation(new Error('something else'))).toBeNull();
  });

  it('reports every statement to query listeners until they unsubscribe', async () => {
    const { orm, tables, onQuery } = deps.current.db;
    const seen: string[] = [];
    const stop = onQuery((query) => seen.push(query));
    await orm.select({ id: tables.users.id }).from(tables.users).limit(1);
    stop();
    await orm.select({ id: tables.users.id }).from(tables.users).limit(1);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatch(/select .*"id".* from .*users/i);
  });

  it('commits a lone write lazily on Postgres, without the setting outliving its statement', async () => {
    const { orm, tables, lazyCommit } = deps.current.db;
    const rows = await orm.insert(tables.users).values(Array.from({ length: 12 }, (_, i) => user(`Lazy${i}`))).returning({ id: tables.users.id });
    // Concurrent writes spread over the pool's connections.
    const written = await Promise.all(
      rows.map(({ id }) =>
        orm
          .update(tables.users)
          .set({ fullName: 'Lazily' })
          .where(and(eq(tables.users.id, id), lazyCommit))
          .returning(dialect === 'postgres' ? { setting: sql<string>`current_setting('synchronous_commit')` } : { setting: sql<string>`'sqlite'` }),
      ),
    );
    expect(written.map(([row]) => row.setting)).toEqual(rows.map(() => (dialect === 'postgres' ? 'off' : 'sqlite')));
    const names = await orm.select({ fullName: tables.users.fullName }).from(tables.users).where(inArray(tables.users.id, rows.map(({ id }) => id)));
    expect(names.map((row) => row.fullName)).toEqual(rows.map(() => 'Lazily'));
    if (dialect === 'postgres') {
      // Every connection the writes used is back to synchronous commits for whatever runs on it next.
      const after = await Promise.all(rows.map(() => orm.execute<{ setting: string }>(sql`select current_setting('synchronous_commit') as setting, pg_sleep(0.01)`)));
      expect(new Set(after.map((result) => (result as unknown as { rows: { setting: string }[] }).rows[0].setting))).toEqual(new Set(['on']));
    } else expect(lazyCommit).toBeUndefined();
  });
});

describe.each(dialects)('database start-up on %s', (dialect) => {
  it('reports pending migrations on a database that was never migrated', async () => {
    const db = await openTestDatabase(dialect, { migrated: false });
    try {
      expect(await db.pendingMigrations()).toBeGreaterThan(0);
      await db.migrate();
      expect(await db.pendingMigrations()).toBe(0);
    } finally {
      await db.close();
    }
  });

});

describe('Postgres start-up', () => {
  it('gives up on an unreachable Postgres after the start-up timeout, naming it without credentials', async () => {
    const started = Date.now();
    const error = await openDatabase({ url: 'postgres://app:s3cret@127.0.0.1:1/app', startupTimeoutMs: 600, connectionTimeoutMs: 200 }).catch(
      (err: unknown) => err as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('DatabaseUnavailableError');
    expect((error as Error).message).toMatch(/could not connect to Postgres at 127\.0\.0\.1:1\/app after [2-9] attempt/);
    expect((error as Error).message).not.toContain('s3cret');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
