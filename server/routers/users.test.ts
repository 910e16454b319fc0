// users.*: public profiles, self-service, admin management and the last-active-admin rule, on both dialects.
import { describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { callerFor, dialects, failure, useTestDeps } from '../testing/harness.ts';
import { createUser, signIn, signedInUser, TEST_PASSWORD, uniqueName } from '../testing/factories.ts';

describe.each(dialects)('users on %s', (dialect) => {
  const deps = useTestDeps(dialect);
  const anonymous = () => callerFor(deps.current);

  describe('get', () => {
    it('shows anyone the public profile only', async () => {
      const user = await createUser(deps.current, { fullName: 'Grace Hopper' });
      expect(await anonymous().users.get({ id: user.id })).toEqual({ id: user.id, username: user.username, fullName: 'Grace Hopper', createdAt: user.createdAt });
    });

    it('is NOT_FOUND for unknown, malformed and inactive users', async () => {
      const inactive = await createUser(deps.current, { isActive: false });
      for (const id of [crypto.randomUUID(), 'not-a-uuid', "'; drop table users; --", inactive.id]) {
        expect((await failure(anonymous().users.get({ id }))).code).toBe('NOT_FOUND');
      }
      expect((await failure(anonymous().users.get({ id: '' }))).code).toBe('BAD_REQUEST');
    });
  });

  describe('updateMe', () => {
    it('changes the full name and e-mail (lower-cased), and clears the name with null', async () => {
      const { caller, user } = await signedInUser(deps.current);
      const email = `${uniqueName('new')}@EXAMPLE.com`;
      const updated = await caller.users.updateMe({ fullName: 'New Name', email, currentPassword: TEST_PASSWORD });
      expect(updated).toMatchObject({ id: user.id, fullName: 'New Name', email: email.toLowerCase() });
      expect((await caller.users.updateMe({ fullName: null })).fullName).toBeNull();
      expect((await caller.auth.me()).email).toBe(email.toLowerCase());
    });

    it('names the e-mail field when it is taken, and validates it', async () => {
      const other = await createUser(deps.current);
      const { caller } = await signedInUser(deps.current);
      expect(await failure(caller.users.updateMe({ email: other.email.toUpperCase(), currentPassword: TEST_PASSWORD }))).toMatchObject({ code: 'CONFLICT', fieldErrors: { email: [expect.any(String)] } });
      expect((await failure(caller.users.updateMe({ email: 'nope' }))).fieldErrors).toHaveProperty('email');
      expect((await failure(anonymous().users.updateMe({ fullName: 'x' }))).code).toBe('UNAUTHORIZED');
    });
  });

  describe('deleteMe', () => {
    it('needs the password, then removes the account with its sessions and tokens', async () => {
      const { caller, user } = await signedInUser(deps.current);
      const { token } = await caller.apiTokens.create({ name: 'gone soon' });
      expect(await failure(caller.users.deleteMe({ password: 'wrong password' }))).toMatchObject({ code: 'BAD_REQUEST', fieldErrors: { password: ['password is incorrect'] } });
      expect(await caller.users.deleteMe({ password: TEST_PASSWORD })).toEqual({ ok: true });
      expect((await failure(caller.auth.me())).code).toBe('UNAUTHORIZED');
      expect((await failure(callerFor(deps.current, { token }).auth.me())).code).toBe('UNAUTHORIZED');
      const { sessions, apiTokens } = deps.current.db.tables;
      expect(await deps.current.db.orm.select().from(sessions).where(eq(sessions.userId, user.id))).toEqual([]);
      expect(await deps.current.db.orm.select().from(apiTokens).where(eq(apiTokens.userId, user.id))).toEqual([]);
    });
  });

  describe('admin', () => {
    it('keeps everything admin-only: UNAUTHORIZED for nobody, FORBIDDEN for users', async () => {
      const { caller } = await signedInUser(deps.current);
      const target = await createUser(deps.current);
      const calls = (c: typeof caller) => [
        c.users.list({}),
        c.users.setActive({ id: target.id, isActive: false }),
        c.users.setRole({ id: target.id, role: 'admin' }),
        c.users.delete({ id: target.id }),
      ];
      for (const result of await Promise.all(calls(anonymous()).map(failure))) expect(result.code).toBe('UNAUTHORIZED');
      for (const result of await Promise.all(calls(caller).map(failure))) expect(result).toMatchObject({ code: 'FORBIDDEN', message: 'admin only' });
    });

    it('lists users newest first with filters, a literal case-insensitive search and a total', async () => {
      const { caller } = await signedInUser(deps.current, { role: 'admin' });
      const tag = uniqueName('Lst').replace(/_/g, '');
      const at = (minute: number) => new Date(Date.UTC(2030, 0, 1, 0, minute));
      const a = await createUser(deps.current, { username: `${tag}_a`, fullName: '100% Real', createdAt: at(1) });
      const b = await createUser(deps.current, { username: `${tag}_b`, isActive: false, createdAt: at(2) });
      const c = await createUser(deps.current, { username: `${tag}_c`, role: 'admin', fullName: 'Back\\slash', createdAt: at(3) });
      const all = await caller.users.list({ q: tag.toUpperCase() });
      expect(all.total).toBe(3);
      expect(all.items.map((user) => user.id)).toEqual([c.id, b.id, a.id]);
      expect(all.items[0]).toEqual({ id: c.id, username: c.username, email: c.email, fullName: 'Back\\slash', role: 'admin', isActive: true, createdAt: c.createdAt });
      expect((await caller.users.list({ q: tag, isActive: false })).items.map((user) => user.id)).toEqual([b.id]);
      expect((await caller.users.list({ q: tag, role: 'admin' })).items.map((user) => user.id)).toEqual([c.id]);
      const paged = await caller.users.list({ q: tag, skip: 1, limit: 1 });
      // A search walks the newest users until the page is full: what it saw is a lower bound of the total.
      expect(paged).toEqual({ items: [expect.objectContaining({ id: b.id })], total: 3, totalIsLowerBound: true, nextCursor: expect.any(String) });
      expect((await caller.users.list({ q: tag, cursor: paged.nextCursor! })).items.map((user) => user.id)).toEqual([a.id]);
      // %, _ and \ are literal: "100%" matches one name, "_" does not match every character.
      expect((await caller.users.list({ q: '100% real' })).items.map((user) => user.id)).toEqual([a.id]);
      expect((await caller.users.list({ q: 'back\\slash' })).items.map((user) => user.id)).toEqual([c.id]);
      expect((await caller.users.list({ q: `${tag}%` })).total).toBe(0);
      expect((await caller.users.list({ q: `${tag.slice(0, -1)}_` })).total).toBe(0);
    });

    it('finds full names in any script, case-insensitively, the same on both dialects', async () => {
      const { caller } = await signedInUser(deps.current, { role: 'admin' });
      const tag = uniqueName('Intl').replace(/_/g, '');
      const names = { german: `Ärger Ölmann ${tag}`, russian: `Иван Петров ${tag}`, greek: `Ελένη Παππά ${tag}`, french: `Élodie Crème ${tag}` };
      const ids: Record<string, string> = {};
      for (const [key, fullName] of Object.entries(names)) ids[key] = (await createUser(deps.current, { fullName })).id;
      const found = async (q: string) => (await caller.users.list({ q, limit: 100 })).items.map((user) => user.id);
      for (const [q, key] of [
        ['ärger ö', 'german'],
        ['ÄRGER ÖLMANN', 'german'],
        ['иван', 'russian'],
        ['ПЕТРОВ', 'russian'],
        ['ελένη', 'greek'],
        ['ΠΑΠΠΆ', 'greek'],
        ['ÉLODIE', 'french'],
        ['crème', 'french'],
      ] as const) {
        expect(await found(q), q).toEqual([ids[key]]);
      }
      expect((await caller.users.list({ q: tag, limit: 100 })).total).toBe(4);
    });

    it('searches usernames by their key and e-mails as stored, whatever the case of q', async () => {
      const { caller } = await signedInUser(deps.current, { role: 'admin' });
      const tag = uniqueName('Key').replace(/_/g, '');
      const user = await createUser(deps.current, { username: `IVAN_${tag}`, email: `Ivan.${tag}@Example.com`.toLowerCase() });
      for (const q of [`ivan_${tag}`, `IVAN_${tag.toUpperCase()}`, `Ivan.${tag}@EXAMPLE`]) {
        expect((await caller.users.list({ q })).items.map((row) => row.id), q).toEqual([user.id]);
      }
    });

    it('refuses out-of-range paging and unknown roles with field messages', async () => {
      const { caller } = await signedInUser(deps.current, { role: 'admin' });
      expect((await failure(caller.users.list({ limit: 0 }))).fieldErrors).toHaveProperty('limit');
      expect((await failure(caller.users.list({ limit: 101 }))).fieldErrors).toHaveProperty('limit');
      expect((await failure(caller.users.list({ skip: -1 }))).fieldErrors).toHaveProperty('skip');
      expect((await failure(caller.users.list({ role: 'root' as never }))).fieldErrors).toHaveProperty('role');
      expect((await failure(caller.users.setRole({ id: 'x', role: 'superuser' as never }))).fieldErrors).toHaveProperty('role');
    });

    it('deactivating ends the user’s sessions and API token access; reactivating restores the tokens', async () => {
      const admin = await signedInUser(deps.current, { role: 'admin' });
      const { caller, user } = await signedInUser(deps.current);
      const program = callerFor(deps.current, { token: (await caller.apiTokens.create({ name: 'job' })).token });
      expect((await admin.caller.users.setActive({ id: user.id, isActive: false })).isActive).toBe(false);
      expect((await failure(caller.auth.me())).code).toBe('UNAUTHORIZED');
      expect(await failure(program.auth.me())).toMatchObject({ code: 'FORBIDDEN', message: 'account is inactive' });
      expect((await failure(callerFor(deps.current).auth.login({ usernameOrEmail: user.username, password: TEST_PASSWORD }))).code).toBe('FORBIDDEN');
      await admin.caller.users.setActive({ id: user.id, isActive: true });
      expect((await program.auth.me()).id).toBe(user.id);
    });

    it('changes roles and deletes users; unknown ids are NOT_FOUND', async () => {
      const admin = await signedInUser(deps.current, { role: 'admin' });
      const user = await createUser(deps.current);
      expect((await admin.caller.users.setRole({ id: user.id, role: 'admin' })).role).toBe('admin');
      const session = await signIn(deps.current, user);
      expect((await session.caller.users.list({ limit: 1 })).items).toHaveLength(1);
      await admin.caller.users.delete({ id: user.id });
      expect((await failure(admin.caller.users.delete({ id: user.id }))).code).toBe('NOT_FOUND');
      expect((await failure(admin.caller.users.setActive({ id: 'missing', isActive: true }))).code).toBe('NOT_FOUND');
      expect((await failure(session.caller.auth.me())).code).toBe('UNAUTHORIZED');
    });
  });
});

describe.each(dialects)('the last active admin on %s', (dialect) => {
  // A database of its own: these tests count every admin in it.
  const deps = useTestDeps(dialect);

  it('cannot be deactivated, demoted or deleted, by another admin or by themselves', async () => {
    const admin = await signedInUser(deps.current, { role: 'admin' });
    const inactiveAdmin = await createUser(deps.current, { role: 'admin', isActive: false });
    const message = 'the last active admin cannot be deactivated, demoted or deleted';
    // Deactivating or deleting oneself through the admin operations is refused before the rule is even asked.
    const notOnSelf = 'an admin cannot deactivate or delete their own account';
    expect(await failure(admin.caller.users.setActive({ id: admin.user.id, isActive: false }))).toMatchObject({ code: 'FORBIDDEN', message: notOnSelf });
    expect(await failure(admin.caller.users.setRole({ id: admin.user.id, role: 'user' }))).toMatchObject({ code: 'CONFLICT', message });
    expect(await failure(admin.caller.users.delete({ id: admin.user.id }))).toMatchObject({ code: 'FORBIDDEN', message: notOnSelf });
    expect(await failure(admin.caller.users.deleteMe({ password: TEST_PASSWORD }))).toMatchObject({ code: 'CONFLICT', message });
    // An inactive admin is not "another active admin", and changing it is fine.
    expect((await admin.caller.users.setRole({ id: inactiveAdmin.id, role: 'user' })).role).toBe('user');
    const second = await signedInUser(deps.current, { role: 'admin' });
    expect((await second.caller.users.setRole({ id: admin.user.id, role: 'user' })).role).toBe('user');
    expect(await failure(second.caller.users.setRole({ id: second.user.id, role: 'user' }))).toMatchObject({ code: 'CONFLICT' });
  });

  it('survives two admins demoting each other at the same moment: exactly one succeeds', async () => {
    const { users } = deps.current.db.tables;
    await deps.current.db.orm.update(users).set({ role: 'user' }).where(eq(users.role, 'admin'));
    const alice = await signedInUser(deps.current, { role: 'admin' });
    const bob = await signedInUser(deps.current, { role: 'admin' });
    const results = await Promise.allSettled([
      alice.caller.users.setRole({ id: bob.user.id, role: 'user' }),
      bob.caller.users.setRole({ id: alice.user.id, role: 'user' }),
      alice.caller.users.setActive({ id: bob.user.id, isActive: false }),
      bob.caller.users.setActive({ id: alice.user.id, isActive: false }),
    ]);
    const activeAdmins = await deps.current.db.orm.select({ id: users.id }).from(users).where(eq(users.role, 'admin'));
    const stillActive = [];
    for (const { id } of activeAdmins) {
      const [row] = await deps.current.db.orm.select({ isActive: users.isActive }).from(users).where(eq(users.id, id));
      if (row.isActive) stillActive.push(id);
    }
    expect(stillActive).toHaveLength(1);
    expect(results.filter((result) => result.status === 'rejected').length).toBeGreaterThanOrEqual(2);
  });
});
