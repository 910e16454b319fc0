// Usernames compare by one folding (A–Z to a–z) kept in users.username_key, on SQLite and on a Postgres database
// whose ICU locale is Turkish (where lower('I') is 'ı'); e-mails compare as stored, lower-cased when saved.
import { beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { usernameKey } from '../../db/index.ts';
import { callerFor, canVaryPostgres, dialects, failure, useTestDeps } from '../testing/harness.ts';
import { createUser, signedInUser, uniqueName } from '../testing/factories.ts';
import { createOrPromoteAdmin } from '../services/users.ts';

const PASSWORD = 'a long enough password';

describe.each(dialects)('usernames on %s (Postgres: a tr-TR ICU database)', (dialect) => {
  const deps = useTestDeps(dialect, { postgres: { locale: 'tr-TR' } });
  const run = it.runIf(dialect === 'sqlite' || canVaryPostgres());
  let ip = 0;
  const anonymous = () => callerFor(deps.current, { ip: `198.51.100.${++ip % 250}`, userAgent: 'vitest' });

  // Registration enqueues a welcome e-mail: start the queue (PGlite beside SQLite) before the timed tests.
  beforeAll(() => deps.current.queue.start());

  // Runs on both (CI fails on a skipped test): the Turkish Postgres folds I to dotless ı, SQLite's lower() to i.
  it('is the database it claims: lower() folds I to dotless ı on the tr-TR Postgres, to i elsewhere', async () => {
    const user = await createUser(deps.current);
    const { users } = deps.current.db.tables;
    const [row] = await deps.current.db.orm.select({ lowered: sql<string>`lower('I')` }).from(users).where(eq(users.id, user.id));
    expect(row.lowered).toBe(dialect === 'postgres' && canVaryPostgres() ? 'ı' : 'i');
  });

  run('refuses a second account whose username differs only by case, and logs in by any case', async () => {
    const tag = uniqueName('t').replace(/_/g, '').toLowerCase();
    const first = await anonymous().auth.register({ username: `IVAN_${tag}`, email: `first_${tag}@example.com`, password: PASSWORD });
    for (const username of [`ivan_${tag}`, `Ivan_${tag}`, `IVAN_${tag.toUpperCase()}`]) {
      const refused = await failure(anonymous().auth.register({ username, email: `${username.toLowerCase()}_other@example.com`, password: PASSWORD }));
      expect(refused, username).toMatchObject({ code: 'CONFLICT', fieldErrors: { username: [expect.any(String)] } });
    }
    for (const usernameOrEmail of [`ivan_${tag}`, `IVAN_${tag}`, ` iVaN_${tag.toUpperCase()} `]) {
      const { user } = await anonymous().auth.login({ usernameOrEmail, password: PASSWORD });
      expect(user.id, usernameOrEmail).toBe(first.user.id);
    }
    // A dotless ı or a dotted İ is another letter, not a case of I: no account.
    for (const usernameOrEmail of [`ıvan_${tag}`, `İVAN_${tag}`]) {
      expect((await failure(anonymous().auth.login({ usernameOrEmail, password: PASSWORD }))).code).toBe('UNAUTHORIZED');
    }
  });

  run('lets the lower-case name register first and the upper-case one conflict, and an admin find either', async () => {
    const tag = uniqueName('u').replace(/_/g, '').toLowerCase();
    const first = await anonymous().auth.register({ username: `ivan_${tag}`, email: `a_${tag}@example.com`, password: PASSWORD });
    const refused = await failure(anonymous().auth.register({ username: `IVAN_${tag}`, email: `b_${tag}@example.com`, password: PASSWORD }));
    expect(refused.code).toBe('CONFLICT');
    expect((await anonymous().auth.login({ usernameOrEmail: `IVAN_${tag}`, password: PASSWORD })).user.id).toBe(first.user.id);
    const { caller: admin } = await signedInUser(deps.current, { role: 'admin' });
    for (const q of [`IVAN_${tag}`, `ivan_${tag}`, 'IVAN_' + tag.slice(0, 3).toUpperCase()]) {
      expect((await admin.users.list({ q })).items.map((user) => user.id), q).toContain(first.user.id);
    }
    const promoted = await createOrPromoteAdmin(deps.current, { username: `IVAN_${tag}`, email: `c_${tag}@example.com` }, async () => PASSWORD);
    expect(promoted).toMatchObject({ created: false, user: { id: first.user.id, role: 'admin' } });
  });

  run('compares e-mails as stored (lower-cased on the way in), whatever the case typed', async () => {
    const tag = uniqueName('m').replace(/_/g, '').toLowerCase();
    const first = await anonymous().auth.register({ username: `mail_${tag}`, email: `IVAN.${tag}@EXAMPLE.COM`, password: PASSWORD });
    expect(first.user.email).toBe(`ivan.${tag}@example.com`);
    const refused = await failure(anonymous().auth.register({ username: `other_${tag}`, email: `ivan.${tag}@example.com`, password: PASSWORD }));
    expect(refused).toMatchObject({ code: 'CONFLICT', fieldErrors: { email: [expect.any(String)] } });
    expect((await anonymous().auth.login({ usernameOrEmail: `Ivan.${tag}@Example.Com`, password: PASSWORD })).user.id).toBe(first.user.id);
  });

  run('keeps in username_key exactly what usernameKey() computes, for any string the database may hold', async () => {
    const { users } = deps.current.db.tables;
    const tag = uniqueName('k').replace(/_/g, '').toLowerCase();
    // Rows made before usernames were ASCII-only, or by hand: the folding is still A–Z only, on both dialects.
    for (const odd of ['İSTANBUL', 'ıI', 'STRASSE_ẞ', 'KELVIN_K', 'ÀÉÎ_Σ', 'MiXeD_09']) {
      const user = await createUser(deps.current, { username: `${odd}_${tag}`, email: `${usernameKey(odd).length}_${crypto.randomUUID()}@example.com` });
      const [row] = await deps.current.db.orm.select({ key: users.usernameKey }).from(users).where(eq(users.id, user.id));
      expect(row.key, odd).toBe(usernameKey(user.username));
    }
  });
});
