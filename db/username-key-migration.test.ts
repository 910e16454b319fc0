// The username_key migration on a database that already has users: every old row gets its key, and the key's
// unique index replaces lower(username), on both dialects.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { asc, eq } from 'drizzle-orm';
import { findUniqueViolation, openDatabase, type Database } from './index.ts';
import { openSqlite } from './sqlite.ts';
import { openPostgres } from './postgres.ts';
import { POSTGRES_DEFAULTS } from './postgres-settings.ts';
import { canVaryPostgres, dialects } from '../server/testing/harness.ts';
import { openTestDatabase } from '../server/testing/database.ts';
import { migrationsBefore } from '../server/testing/migrations.ts';

const quiet = { logQuery: () => {} };
const scratch = mkdtempSync(join(tmpdir(), 'abs-username-key-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));


const OLD_USERS = [
  ['IVAN_Old', 'ivan_old@example.com'],
  ['mixed_Case_9', 'mixed@example.com'],
] as const;
const insertOldPg = `insert into users (id, username, email, password_hash, role, is_active, created_at, updated_at) values ($1, $2, $3, 'x', 'user', true, $4, $4)`;

/** A database migrated up to the username_key migration, with users in it; then the rest of the migrations. */
async function upgradedWithOldUsers(dialect: 'sqlite' | 'postgres'): Promise<Database> {
  const before = migrationsBefore(dialect, 'username_key', scratch);
  if (dialect === 'sqlite') {
    const path = join(scratch, 'app.db');
    const old = openSqlite(path, quiet);
    await old.migrate(before);
    const insert = old.raw.prepare(`insert into users (id, username, email, password_hash, role, is_active, created_at, updated_at) values (?, ?, ?, 'x', 'user', 1, ?, ?)`);
    OLD_USERS.forEach(([username, email], i) => insert.run(`old-${i}`, username, email, Date.now(), Date.now()));
    old.close();
    const db = await openDatabase({ url: `file:${path}` });
    await db.migrate();
    return db;
  }
  const fresh = await openTestDatabase('postgres', { migrated: false });
  if (fresh.source.kind !== 'postgres') throw new Error('expected a Postgres server');
  const old = await openPostgres({ ...POSTGRES_DEFAULTS, url: fresh.source.url, onPoolError: () => {} }, quiet);
  await old.migrate(before);
  for (const [i, [username, email]] of OLD_USERS.entries()) await old.pool.query(insertOldPg, [`old-${i}`, username, email, new Date()]);
  await old.close();
  await fresh.migrate();
  return fresh;
}

describe.each(dialects)('the username_key migration on %s', (dialect) => {
  it.runIf(dialect === 'sqlite' || canVaryPostgres())('gives existing users their key and makes it the unique one', async () => {
    const db = await upgradedWithOldUsers(dialect);
    try {
      expect(await db.pendingMigrations()).toBe(0);
      const { users } = db.tables;
      const rows = await db.orm.select({ username: users.username, key: users.usernameKey }).from(users).orderBy(asc(users.id));
      expect(rows).toEqual([
        { username: 'IVAN_Old', key: 'ivan_old' },
        { username: 'mixed_Case_9', key: 'mixed_case_9' },
      ]);
      const duplicate = await db.orm
        .insert(users)
        .values({ username: 'Ivan_OLD', email: 'another@example.com', passwordHash: 'x' })
        .then(() => null, (error: unknown) => error);
      expect(findUniqueViolation(duplicate)).toEqual({ table: 'users', field: 'username' });
      const [found] = await db.orm.select({ username: users.username }).from(users).where(eq(users.usernameKey, 'ivan_old'));
      expect(found.username).toBe('IVAN_Old');
    } finally {
      await db.close();
    }
  });
});
