// auth.* and apiTokens.* through createCaller, on both dialects: every rule of accounts and sessions.
import { describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { callerFor, dialects, failure, useTestDeps } from '../testing/harness.ts';
import { createUser, manualClock, signIn, signedInUser, TEST_PASSWORD, uniqueName } from '../testing/factories.ts';
import { hashToken } from '../services/tokens.ts';
import type { Deps } from '../deps.ts';

const DAY = 24 * 60 * 60 * 1000;

const registration = (name = uniqueName('reg')) => ({ username: name, email: `${name}@Example.COM`, password: 'a long enough password' });

async function storedUser(deps: Deps, id: string) {
  const { users } = deps.db.tables;
  const [row] = await deps.db.orm.select().from(users).where(eq(users.id, id));
  return row;
}

describe.each(dialects)('auth on %s', (dialect) => {
  const deps = useTestDeps(dialect);
  const anonymous = () => callerFor(deps.current, { ip: '192.0.2.1', userAgent: 'test-agent' });

  describe('register', () => {
    it('creates the user, logs them in, and stores only an Argon2id hash with the OWASP parameters', async () => {
      const input = { ...registration(), fullName: '  Ada Lovelace ' };
      const result = await anonymous().auth.register(input);
      expect(result.user).toEqual({
        id: expect.any(String),
        username: input.username,
        email: input.email.toLowerCase(),
        fullName: 'Ada Lovelace',
        role: 'user',
        isActive: true,
        createdAt: expect.any(Date),
      });
      expect(result.token).toMatch(/^[a-z2-7]{32}$/);
      expect(result.expiresAt.getTime() - Date.now()).toBeGreaterThan(29 * DAY);
      const stored = await storedUser(deps.current, result.user.id);
      expect(stored.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
      expect(stored.passwordHash).not.toContain(input.password);
      // The session is keyed by the token's SHA-256; the token itself is stored nowhere.
      const { sessions } = deps.current.db.tables;
      const rows = await deps.current.db.orm.select().from(sessions).where(eq(sessions.userId, result.user.id));
      expect(rows).toHaveLength(1);
      expect(rows[0].id).toBe(hashToken(result.token!));
      expect(JSON.stringify(rows)).not.toContain(result.token);
      expect(rows[0]).toMatchObject({ ip: '192.0.2.1', userAgent: 'test-agent' });
      expect(await callerFor(deps.current, { token: result.token! }).auth.me()).toEqual(result.user);
    });

    it.each([
      ['a username with spaces', { username: 'has space' }, 'username'],
      ['a username with emoji', { username: 'smile😀' }, 'username'],
      ['a short username', { username: 'ab' }, 'username'],
      ['a long username', { username: 'a'.repeat(33) }, 'username'],
      ['an invalid e-mail', { email: 'not-an-email' }, 'email'],
      ['a short password', { password: 'short' }, 'password'],
      ['a 257-character password', { password: 'p'.repeat(257) }, 'password'],
      ['a number as username', { username: 42 }, 'username'],
      ['a full name of 101 characters', { fullName: 'n'.repeat(101) }, 'fullName'],
    ])('refuses %s with a message on that field', async (_case, change, field) => {
      const result = await failure(anonymous().auth.register({ ...registration(), ...change } as never));
      expect(result.code).toBe('BAD_REQUEST');
      expect(Object.keys(result.fieldErrors)).toEqual([field]);
    });

    it('refuses a 100 KB password at once, before any hashing', async () => {
      // CPU time, not wall time: a busy machine stretches both calls' wall time, not the work each does. A
      // registration that hashes (Argon2id, on libuv's threads, counted in the process's CPU time) beside it.
      const cpu = async (call: () => Promise<unknown>) => {
        const started = process.cpuUsage();
        await call();
        const used = process.cpuUsage(started);
        return used.user + used.system;
      };
      const hashing = await cpu(() => anonymous().auth.register(registration()));
      let fieldErrors: Record<string, string[]> = {};
      const refusing = await cpu(async () => ({ fieldErrors } = await failure(anonymous().auth.register({ ...registration(), password: 'x'.repeat(100_000) }))));
      expect(fieldErrors.password).toEqual(['must be at most 256 characters']);
      expect(refusing).toBeLessThan(hashing / 4);
    });

    it('refuses a password equal to the username or e-mail', async () => {
      const input = registration();
      for (const password of [input.username.toUpperCase(), input.email]) {
        const result = await failure(anonymous().auth.register({ ...input, password }));
        expect(result.code).toBe('BAD_REQUEST');
        expect(result.fieldErrors.password).toEqual(['must not be your username or e-mail address']);
      }
    });

    it('names the field of a duplicate username (ignoring case) or e-mail', async () => {
      const first = registration();
      await anonymous().auth.register(first);
      const byName = await failure(anonymous().auth.register({ ...registration(), username: first.username.toUpperCase() }));
      expect(byName).toMatchObject({ code: 'CONFLICT', fieldErrors: { username: [expect.any(String)] } });
      const byEmail = await failure(anonymous().auth.register({ ...registration(), email: first.email.toUpperCase() }));
      expect(byEmail).toMatchObject({ code: 'CONFLICT', fieldErrors: { email: [expect.any(String)] } });
    });

    it('lets exactly one of 20 racing registrations of one name succeed; the rest get CONFLICT', async () => {
      const name = uniqueName('race');
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => anonymous().auth.register({ username: name, email: `${name}-${i}@example.com`, password: 'racing password' })),
      );
      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
      expect(rejected).toHaveLength(19);
      for (const { reason } of rejected) expect(reason).toMatchObject({ code: 'CONFLICT', message: 'username is already taken' });
    });
  });

  describe('login', () => {
    it('accepts the username in any case or the e-mail, and starts a new session each time', async () => {
      const user = await createUser(deps.current, { email: `${uniqueName('mail')}@example.com` });
      const first = await anonymous().auth.login({ usernameOrEmail: user.username.toUpperCase(), password: TEST_PASSWORD });
      const second = await anonymous().auth.login({ usernameOrEmail: ` ${user.email.toUpperCase()} `, password: TEST_PASSWORD });
      expect(first.user.id).toBe(user.id);
      expect(second.user.id).toBe(user.id);
      expect(first.token).not.toBe(second.token);
      const sessions = await callerFor(deps.current, { token: second.token! }).auth.sessions();
      expect(sessions).toHaveLength(2);
    });

    it('says the same for an unknown user and a wrong password, in about the same time', async () => {
      const user = await createUser(deps.current);
      const wrongPassword = () => failure(anonymous().auth.login({ usernameOrEmail: user.username, password: 'not the password' }));
      const unknownUser = () => failure(anonymous().auth.login({ usernameOrEmail: uniqueName('ghost'), password: 'not the password' }));
      expect(await wrongPassword()).toEqual(await unknownUser());
      expect((await unknownUser()).message).toBe('invalid username or password');
      // Interleaved, so both see the same load; the median of 7 each.
      const samples: { wrong: number[]; unknown: number[] } = { wrong: [], unknown: [] };
      for (let i = 0; i < 7; i++) {
        for (const [name, attempt] of [['wrong', wrongPassword], ['unknown', unknownUser]] as const) {
          const started = performance.now();
          await attempt();
          samples[name].push(performance.now() - started);
        }
      }
      const median = (values: number[]) => [...values].sort((a, b) => a - b)[3];
      const [wrong, unknown] = [median(samples.wrong), median(samples.unknown)];
      // Without the dummy verification an unknown user answers in a millisecond or two against tens.
      expect(unknown).toBeGreaterThan(wrong * 0.3);
      expect(unknown).toBeLessThan(wrong * 3.3);
    });

    it('refuses an inactive account with FORBIDDEN, but only after the password is checked', async () => {
      const user = await createUser(deps.current, { isActive: false });
      expect(await failure(anonymous().auth.login({ usernameOrEmail: user.username, password: TEST_PASSWORD }))).toMatchObject({
        code: 'FORBIDDEN',
        message: 'account is inactive',
      });
      expect(await failure(anonymous().auth.login({ usernameOrEmail: user.username, password: 'wrong password' }))).toMatchObject({ code: 'UNAUTHORIZED' });
    });

    it('validates its input', async () => {
      expect((await failure(anonymous().auth.login({ usernameOrEmail: '', password: 'x' }))).fieldErrors).toHaveProperty('usernameOrEmail');
      expect((await failure(anonymous().auth.login({ usernameOrEmail: 'someone', password: 'x'.repeat(100_000) }))).fieldErrors).toHaveProperty('password');
    });
  });

  describe('sessions', () => {
    it('needs credentials: none, garbage or a revoked token is UNAUTHORIZED', async () => {
      expect((await failure(anonymous().auth.me())).code).toBe('UNAUTHORIZED');
      expect((await failure(callerFor(deps.current, { token: 'garbage' }).auth.me())).code).toBe('UNAUTHORIZED');
      const { caller, token } = await signedInUser(deps.current);
      await caller.auth.logout();
      expect((await failure(callerFor(deps.current, { token }).auth.me())).code).toBe('UNAUTHORIZED');
    });

    it('refuses an inactive user’s live session with FORBIDDEN', async () => {
      const { user, caller } = await signedInUser(deps.current);
      await deps.current.db.orm.update(deps.current.db.tables.users).set({ isActive: false }).where(eq(deps.current.db.tables.users.id, user.id));
      expect(await failure(caller.auth.me())).toMatchObject({ code: 'FORBIDDEN', message: 'account is inactive' });
    });

    it('lists the caller’s sessions by public id, marks the current one, and revokes others', async () => {
      const { user, caller, sessionId } = await signedInUser(deps.current);
      const other = await signIn(deps.current, user);
      const list = await caller.auth.sessions();
      expect(list).toHaveLength(2);
      expect(list.filter((session) => session.current)).toHaveLength(1);
      for (const session of list) {
        expect(session.id).not.toBe(sessionId);
        expect(session.id).not.toBe(other.sessionId);
        expect(Object.keys(session).sort()).toEqual(['createdAt', 'current', 'expiresAt', 'id', 'ip', 'lastUsedAt', 'userAgent']);
      }
      const otherPublic = list.find((session) => !session.current)!;
      await caller.auth.revokeSession({ id: otherPublic.id });
      expect((await failure(other.caller.auth.me())).code).toBe('UNAUTHORIZED');
      expect(await caller.auth.sessions()).toHaveLength(1);
      expect((await failure(caller.auth.revokeSession({ id: otherPublic.id }))).code).toBe('NOT_FOUND');
    });

    it('does not let anyone revoke another user’s session', async () => {
      const alice = await signedInUser(deps.current);
      const bob = await signedInUser(deps.current);
      const [bobSession] = await bob.caller.auth.sessions();
      expect((await failure(alice.caller.auth.revokeSession({ id: bobSession.id }))).code).toBe('NOT_FOUND');
      expect((await bob.caller.auth.me()).id).toBe(bob.user.id);
    });

    it('logoutAll ends every session of the user', async () => {
      const { user, caller } = await signedInUser(deps.current);
      const other = await signIn(deps.current, user);
      expect(await caller.auth.logoutAll()).toEqual({ ok: true });
      expect((await failure(caller.auth.me())).code).toBe('UNAUTHORIZED');
      expect((await failure(other.caller.auth.me())).code).toBe('UNAUTHORIZED');
    });
  });

  describe('changePassword', () => {
    it('checks the current password, ends every other session, and keeps this one', async () => {
      const { user, caller } = await signedInUser(deps.current);
      const other = await signIn(deps.current, user);
      expect(await failure(caller.auth.changePassword({ currentPassword: 'wrong password', newPassword: 'brand new password' }))).toMatchObject({
        code: 'BAD_REQUEST',
        fieldErrors: { currentPassword: ['current password is incorrect'] },
      });
      expect((await failure(caller.auth.changePassword({ currentPassword: TEST_PASSWORD, newPassword: user.username }))).fieldErrors).toHaveProperty('newPassword');
      expect((await failure(caller.auth.changePassword({ currentPassword: TEST_PASSWORD, newPassword: 'short' }))).fieldErrors).toHaveProperty('newPassword');
      await caller.auth.changePassword({ currentPassword: TEST_PASSWORD, newPassword: 'brand new password' });
      expect((await caller.auth.me()).id).toBe(user.id);
      expect((await failure(other.caller.auth.me())).code).toBe('UNAUTHORIZED');
      expect((await failure(anonymous().auth.login({ usernameOrEmail: user.username, password: TEST_PASSWORD }))).code).toBe('UNAUTHORIZED');
      expect((await anonymous().auth.login({ usernameOrEmail: user.username, password: 'brand new password' })).user.id).toBe(user.id);
    });
  });

  describe('API tokens', () => {
    it('are shown once, listed by prefix, work as bearer tokens, and stop working when revoked', async () => {
      const { caller } = await signedInUser(deps.current);
      const created = await caller.apiTokens.create({ name: 'ci', expiresInDays: 30 });
      expect(created.token).toMatch(/^abs_[a-z2-7]{32}$/);
      expect(created.token.startsWith(created.prefix)).toBe(true);
      expect(created.expiresAt!.getTime() - Date.now()).toBeGreaterThan(29 * DAY);
      const list = await caller.apiTokens.list();
      expect(list).toEqual([{ id: created.id, name: 'ci', prefix: created.prefix, createdAt: created.createdAt, lastUsedAt: null, expiresAt: created.expiresAt }]);
      const program = callerFor(deps.current, { token: created.token });
      expect((await program.auth.me()).id).toBe((await caller.auth.me()).id);
      expect((await program.users.updateMe({ fullName: 'Set By Token' })).fullName).toBe('Set By Token');
      expect((await caller.apiTokens.list())[0].lastUsedAt).toBeInstanceOf(Date);
      await caller.apiTokens.revoke({ id: created.id });
      expect((await failure(program.auth.me())).code).toBe('UNAUTHORIZED');
      expect((await failure(caller.apiTokens.revoke({ id: created.id }))).code).toBe('NOT_FOUND');
    });

    it('cannot manage passwords, sessions or API tokens', async () => {
      const { caller } = await signedInUser(deps.current);
      const program = callerFor(deps.current, { token: (await caller.apiTokens.create({ name: 'limited' })).token });
      const attempts = [
        program.auth.sessions(),
        program.auth.logout(),
        program.auth.logoutAll(),
        program.auth.revokeSession({ id: 'x' }),
        program.auth.changePassword({ currentPassword: TEST_PASSWORD, newPassword: 'another password' }),
        program.apiTokens.create({ name: 'more' }),
        program.apiTokens.list(),
        program.apiTokens.revoke({ id: 'x' }),
        program.users.deleteMe({ password: TEST_PASSWORD }),
      ];
      for (const result of await Promise.all(attempts.map(failure))) expect(result).toMatchObject({ code: 'FORBIDDEN' });
    });

    it('do not let one user revoke another’s token', async () => {
      const alice = await signedInUser(deps.current);
      const bob = await signedInUser(deps.current);
      const token = await bob.caller.apiTokens.create({ name: 'bob' });
      expect((await failure(alice.caller.apiTokens.revoke({ id: token.id }))).code).toBe('NOT_FOUND');
      expect(await alice.caller.apiTokens.list()).toEqual([]);
    });
  });

  it('never returns a password hash, a session id or a stored token hash', async () => {
    const seen: unknown[] = [];
    const record = <T>(value: T): T => (seen.push(value), value);
    const registered = record(await anonymous().auth.register(registration()));
    const caller = callerFor(deps.current, { token: registered.token! });
    record(await anonymous().auth.login({ usernameOrEmail: registered.user.username, password: 'a long enough password' }));
    record(await caller.auth.me());
    record(await caller.auth.sessions());
    const token = record(await caller.apiTokens.create({ name: 'scan' }));
    record(await caller.apiTokens.list());
    record(await caller.users.get({ id: registered.user.id }));
    record(await caller.users.updateMe({ fullName: 'Scanned' }));
    const { users, sessions, apiTokens } = deps.current.db.tables;
    const secrets = [
      ...(await deps.current.db.orm.select({ value: users.passwordHash }).from(users).where(eq(users.id, registered.user.id))),
      ...(await deps.current.db.orm.select({ value: sessions.id }).from(sessions).where(eq(sessions.userId, registered.user.id))),
      ...(await deps.current.db.orm.select({ value: apiTokens.tokenHash }).from(apiTokens).where(eq(apiTokens.id, token.id))),
    ].map((row) => row.value);
    expect(secrets.length).toBeGreaterThanOrEqual(4);
    const output = JSON.stringify(seen);
    for (const secret of secrets) expect(output).not.toContain(secret);
    expect(output).not.toMatch(/passwordHash|tokenHash|argon2/);
  });
});

describe.each(dialects)('session lifetime on %s', (dialect) => {
  const clock = manualClock(new Date('2030-01-01T00:00:00Z'));
  const deps = useTestDeps(dialect, { clock, env: { SESSION_ABSOLUTE_LIFETIME_DAYS: '90' } });

  it('expires after 30 days without use', async () => {
    clock.set(new Date('2030-01-01T00:00:00Z'));
    const { caller } = await signedInUser(deps.current);
    clock.advance(30 * DAY - 1000);
    expect(await caller.auth.me()).toBeTruthy();
    // That use renewed it (less than 15 days were left): 30 more days from now.
    clock.advance(30 * DAY - 2000);
    expect(await caller.auth.me()).toBeTruthy();
    clock.advance(30 * DAY + 1000);
    expect((await failure(caller.auth.me())).code).toBe('UNAUTHORIZED');
  });

  it('renews only when less than 15 days remain, and records use at most every 5 minutes', async () => {
    clock.set(new Date('2030-03-01T00:00:00Z'));
    const { caller } = await signedInUser(deps.current);
    const [initial] = await caller.auth.sessions();
    clock.advance(10 * DAY);
    await caller.auth.me();
    const [afterTenDays] = await caller.auth.sessions();
    expect(afterTenDays.expiresAt).toEqual(initial.expiresAt);
    expect(afterTenDays.lastUsedAt.getTime()).toBe(initial.createdAt.getTime() + 10 * DAY);
    clock.advance(60 * 1000);
    await caller.auth.me();
    expect((await caller.auth.sessions())[0].lastUsedAt).toEqual(afterTenDays.lastUsedAt);
    clock.advance(6 * DAY);
    await caller.auth.me();
    const [renewed] = await caller.auth.sessions();
    expect(renewed.expiresAt.getTime()).toBe(clock.now().getTime() + 30 * DAY);
  });

  it('ends at the absolute lifetime however often it is used', async () => {
    clock.set(new Date('2030-06-01T00:00:00Z'));
    const { caller } = await signedInUser(deps.current);
    for (let day = 10; day < 90; day += 10) {
      clock.advance(10 * DAY);
      expect(await caller.auth.me()).toBeTruthy();
    }
    const [session] = await caller.auth.sessions();
    expect(session.expiresAt.getTime()).toBe(new Date('2030-06-01T00:00:00Z').getTime() + 90 * DAY);
    clock.advance(10 * DAY);
    expect((await failure(caller.auth.me())).code).toBe('UNAUTHORIZED');
  });

  it('expires API tokens at their expiry', async () => {
    clock.set(new Date('2031-01-01T00:00:00Z'));
    const { caller } = await signedInUser(deps.current);
    const { token } = await caller.apiTokens.create({ name: 'short', expiresInDays: 1 });
    const program = callerFor(deps.current, { token });
    expect(await program.auth.me()).toBeTruthy();
    clock.advance(DAY);
    expect((await failure(program.auth.me())).code).toBe('UNAUTHORIZED');
  });
});
