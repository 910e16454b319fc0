// Account takeover and password guessing, over /trpc and /api on both dialects: what an API token may not do,
// what a new password or e-mail address ends, and the budgets every password check and batch call spends.
import { describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { hashingStats, hashPassword, MAX_CONCURRENT_HASHES, verifyPassword } from '../services/passwords.ts';
import { hashToken } from '../services/tokens.ts';
import { setActive } from '../services/users.ts';
import { createUser, signIn, TEST_PASSWORD, uniqueName } from '../testing/factories.ts';
import { captureLogs, dialects, useTestServer } from '../testing/harness.ts';
import { rest, trpcCall } from '../testing/http.ts';
import type { RestError } from '../rest/handler.ts';
import type { Deps } from '../deps.ts';
import { clientKey } from '../rate-limits.ts';

type BatchResult = { result?: unknown; error?: { json: { data: { code: string; fieldErrors?: Record<string, string[]> } } } };

/** One /trpc batch over HTTP: one call per input, all to the same procedure. */
async function trpcBatch(url: string, path: string, inputs: unknown[], headers: Record<string, string>): Promise<{ status: number; headers: Headers; codes: string[] }> {
  const body = Object.fromEntries(inputs.map((input, index) => [index, { json: input }]));
  const response = await fetch(`${url}/trpc/${Array(inputs.length).fill(path).join(',')}?batch=1`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const results = (await response.json()) as BatchResult[] | { error: unknown };
  const codes = Array.isArray(results) ? results.map((result) => result.error?.json.data.code ?? 'OK') : [];
  return { status: response.status, headers: response.headers, codes };
}

const count = (codes: string[], code: string) => codes.filter((item) => item === code).length;

/** An unused reset token of the user's, as the reset e-mail job leaves one. */
async function resetToken(deps: Deps, userId: string): Promise<string> {
  const token = uniqueName('reset').replace(/[^a-z0-9]/gi, '');
  const now = deps.clock.now();
  await deps.db.orm
    .insert(deps.db.tables.passwordResetTokens)
    .values({ userId, tokenHash: hashToken(token), jobId: crypto.randomUUID(), createdAt: now, expiresAt: new Date(now.getTime() + 3_600_000), emailSentAt: now });
  return token;
}

describe.each(dialects)('account security on %s', (dialect) => {
  const logs = captureLogs('info');
  const app = useTestServer(dialect, {
    work: true,
    logger: logs.logger,
    env: {
      TRUST_PROXY: 'loopback',
      RATE_LIMIT_LOGIN_FAILURES_PER_MINUTE: '5',
      RATE_LIMIT_PASSWORD_CHECKS_PER_MINUTE: '3',
      RATE_LIMIT_REGISTER_PER_MINUTE: '2',
    },
  });
  let ipCounter = 0;
  /** A fresh client address per use, so budgets never carry over (TRUST_PROXY=loopback believes it). */
  const freshIp = () => ({ 'x-forwarded-for': `198.51.100.${++ipCounter}` });

  async function account(ip = freshIp()) {
    const user = await createUser(app.deps);
    const { token } = await signIn(app.deps, user);
    const apiToken = (await rest<{ token: string }>(app.url, 'POST', '/api/api-tokens', { token, headers: ip, json: { name: 'script' } })).body.token;
    return { user, token, apiToken, ip, bearer: { ...ip, authorization: `Bearer ${token}` } };
  }

  const reset = (token: string, via: 'trpc' | 'api', ip = freshIp()) =>
    via === 'trpc'
      ? trpcCall(app.url, 'auth.resetPassword', { input: { token, newPassword: 'a brand new password' }, headers: ip }).then((r) => ({ status: r.status, fieldErrors: r.body.error?.data.fieldErrors }))
      : rest<RestError>(app.url, 'POST', '/api/auth/password-reset', { json: { token, newPassword: 'a brand new password' }, headers: ip }).then((r) => ({ status: r.status, fieldErrors: r.body?.error?.fieldErrors }));

  const me = (token: string) => rest(app.url, 'GET', '/api/auth/me', { token });

  it('takes a session and the current password to change the e-mail address, and tells the old address', async () => {
    const { user, token, apiToken, ip, bearer } = await account();
    const newEmail = `${uniqueName('moved')}@example.com`;
    // An API token can rename, but not move the account to an address its holder controls.
    const byTokenTrpc = await trpcCall(app.url, 'users.updateMe', { input: { email: newEmail, currentPassword: TEST_PASSWORD }, headers: { ...ip, authorization: `Bearer ${apiToken}` } });
    expect({ status: byTokenTrpc.status, code: byTokenTrpc.body.error?.data.code }).toEqual({ status: 403, code: 'FORBIDDEN' });
    const byTokenRest = await rest<RestError>(app.url, 'PATCH', '/api/users/me', { token: apiToken, headers: ip, json: { email: newEmail, currentPassword: TEST_PASSWORD } });
    expect(byTokenRest).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    expect((await rest(app.url, 'PATCH', '/api/users/me', { token: apiToken, headers: ip, json: { fullName: 'Renamed' } })).status).toBe(200);

    const missing = await trpcCall(app.url, 'users.updateMe', { input: { email: newEmail }, headers: bearer });
    expect(missing.body.error?.data.fieldErrors).toHaveProperty('currentPassword');
    const wrong = await rest<RestError>(app.url, 'PATCH', '/api/users/me', { token, headers: ip, json: { email: newEmail, currentPassword: 'not the password' } });
    expect(wrong).toMatchObject({ status: 400, body: { error: { fieldErrors: { currentPassword: ['current password is incorrect'] } } } });
    expect((await me(token)).body).toMatchObject({ email: user.email });

    const moved = await rest<{ email: string }>(app.url, 'PATCH', '/api/users/me', { token, headers: ip, json: { email: newEmail, currentPassword: TEST_PASSWORD } });
    expect(moved).toMatchObject({ status: 200, body: { email: newEmail } });
    // The notice goes to the previous address, from a worker.
    await expect
      .poll(() => logs.lines.some((line) => line.to === user.email && line.subject === 'The e-mail address of your account changed'))
      .toBe(true);
    // Over /trpc as well (from another address: this one spent its two e-mail changes); the same address again
    // is no change and needs no password.
    const back = await trpcCall(app.url, 'users.updateMe', { input: { email: user.email, currentPassword: TEST_PASSWORD }, headers: { ...freshIp(), authorization: `Bearer ${token}` } });
    expect(back.status).toBe(200);
    expect((await trpcCall(app.url, 'users.updateMe', { input: { email: user.email, fullName: 'Same' }, headers: { ...ip, authorization: `Bearer ${apiToken}` } })).status).toBe(200);
  });

  it('ends API tokens and outstanding reset links with a password change, a reset or an e-mail change', async () => {
    // A password change, over /trpc.
    const changer = await account();
    const [stale, other] = [await resetToken(app.deps, changer.user.id), await resetToken(app.deps, changer.user.id)];
    const changed = await trpcCall(app.url, 'auth.changePassword', { input: { currentPassword: TEST_PASSWORD, newPassword: 'another long password' }, headers: changer.bearer });
    expect(changed.status).toBe(200);
    expect((await me(changer.apiToken)).status).toBe(401);
    expect((await me(changer.token)).status).toBe(200);
    expect(await reset(stale, 'api')).toEqual({ status: 400, fieldErrors: { token: ['invalid or expired token'] } });
    expect((await reset(other, 'trpc')).status).toBe(400);

    // A reset, over /api: the other links of the account are used up with it.
    const forgetful = await account();
    const [used, spare] = [await resetToken(app.deps, forgetful.user.id), await resetToken(app.deps, forgetful.user.id)];
    expect((await reset(used, 'api')).status).toBe(200);
    expect((await me(forgetful.apiToken)).status).toBe(401);
    expect((await me(forgetful.token)).status).toBe(401);
    expect((await reset(spare, 'trpc')).status).toBe(400);

    // An e-mail change, over either transport.
    for (const via of ['trpc', 'api'] as const) {
      const mover = await account();
      const link = await resetToken(app.deps, mover.user.id);
      const input = { email: `${uniqueName('mv')}@example.com`, currentPassword: TEST_PASSWORD };
      const status =
        via === 'trpc'
          ? (await trpcCall(app.url, 'users.updateMe', { input, headers: mover.bearer })).status
          : (await rest(app.url, 'PATCH', '/api/users/me', { token: mover.token, headers: mover.ip, json: input })).status;
      expect(status).toBe(200);
      expect((await reset(link, via)).status).toBe(400);
    }
  });

  it('refuses a reset token of an account deactivated since it was mailed, also once it is reactivated', async () => {
    for (const via of ['trpc', 'api'] as const) {
      const user = await createUser(app.deps);
      const token = await resetToken(app.deps, user.id);
      await setActive(app.deps, user.id, false);
      expect(await reset(token, via)).toEqual({ status: 400, fieldErrors: { token: ['invalid or expired token'] } });
      await setActive(app.deps, user.id, true);
      expect((await reset(token, via)).status).toBe(400);
      const { users } = app.deps.db.tables;
      const [row] = await app.deps.db.orm.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, user.id));
      expect(await verifyPassword(row.passwordHash, TEST_PASSWORD)).toBe(true);
    }
  });

  it('spends one password check per verification, per account and per address, batched calls included', async () => {
    // Per account: a batch of four wrong guesses makes three verifications; the fourth call is refused.
    const guessed = await account();
    const wrong = { currentPassword: 'not the password', newPassword: 'another long password' };
    const batch = await trpcBatch(app.url, 'auth.changePassword', [wrong, wrong, wrong, wrong], guessed.bearer);
    expect({ bad: count(batch.codes, 'BAD_REQUEST'), limited: count(batch.codes, 'TOO_MANY_REQUESTS') }).toEqual({ bad: 3, limited: 1 });
    expect(Number(batch.headers.get('retry-after'))).toBeGreaterThan(0);
    // From another address, with the right password: still the account's spent budget.
    const elsewhere = await rest<RestError>(app.url, 'POST', '/api/users/me/delete', { token: guessed.token, headers: freshIp(), json: { password: TEST_PASSWORD } });
    expect(elsewhere).toMatchObject({ status: 429, body: { error: { code: 'TOO_MANY_REQUESTS' } } });

    // Per address: three accounts behind one address share its budget, whichever procedure checks.
    const ip = freshIp();
    const [first, second, third] = [await account(ip), await account(ip), await account(ip)];
    expect((await rest(app.url, 'POST', '/api/auth/password', { token: first.token, headers: ip, json: wrong })).status).toBe(400);
    expect((await trpcCall(app.url, 'users.deleteMe', { input: { password: 'nope' }, headers: second.bearer })).status).toBe(400);
    expect((await rest(app.url, 'POST', '/api/users/me/delete', { token: second.token, headers: ip, json: { password: 'nope again' } })).status).toBe(400);
    const fourth = await rest<RestError>(app.url, 'PATCH', '/api/users/me', { token: third.token, headers: ip, json: { email: `${uniqueName('x')}@example.com`, currentPassword: TEST_PASSWORD } });
    expect(fourth.status).toBe(429);
    expect((await me(third.token)).body).toMatchObject({ email: third.user.email });
  });

  it('consumes a failed-login unit before checking the password, one budget per account whichever name is typed', async () => {
    const user = await createUser(app.deps);
    const ip = freshIp();
    const guesses = await Promise.all(
      Array.from({ length: 15 }, (_, i) => trpcCall(app.url, 'auth.login', { input: { usernameOrEmail: user.username, password: `wrong ${i}` }, headers: ip })),
    );
    const statuses = guesses.map((guess) => guess.status);
    // Only the budget's worth reached the password check.
    expect({ checked: statuses.filter((status) => status === 401).length, refused: statuses.filter((status) => status === 429).length }).toEqual({ checked: 5, refused: 10 });

    const other = await createUser(app.deps);
    const login = (usernameOrEmail: string, password: string) => rest<RestError>(app.url, 'POST', '/api/auth/login', { json: { usernameOrEmail, password }, headers: ip });
    for (const name of [other.username, other.username.toUpperCase(), other.email, other.email.toUpperCase(), other.username]) expect((await login(name, 'wrong')).status).toBe(401);
    expect((await login(other.email, TEST_PASSWORD)).status).toBe(429);
    expect((await login(other.username, TEST_PASSWORD)).status).toBe(429);
  });

  it('limits e-mail changes per address as tightly as registrations (a taken address is a CONFLICT)', async () => {
    const ip = freshIp();
    const { token, bearer } = await account(ip);
    const [taken1, taken2, taken3] = [await createUser(app.deps), await createUser(app.deps), await createUser(app.deps)];
    const viaTrpc = await trpcCall(app.url, 'users.updateMe', { input: { email: taken1.email, currentPassword: TEST_PASSWORD }, headers: bearer });
    expect(viaTrpc.body.error?.data.code).toBe('CONFLICT');
    const viaRest = await rest<RestError>(app.url, 'PATCH', '/api/users/me', { token, headers: ip, json: { email: taken2.email, currentPassword: TEST_PASSWORD } });
    expect(viaRest.body.error.code).toBe('CONFLICT');
    const limited = await rest<RestError>(app.url, 'PATCH', '/api/users/me', { token, headers: ip, json: { email: taken3.email, currentPassword: TEST_PASSWORD } });
    expect(limited).toMatchObject({ status: 429, body: { error: { code: 'TOO_MANY_REQUESTS' } } });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('per-IP budgets', () => {
  const app = useTestServer('sqlite', { env: { TRUST_PROXY: 'true', RATE_LIMIT_GLOBAL_PER_MINUTE: '10', RATE_LIMIT_LOGIN_PER_MINUTE: '2' } });
  const from = (ip: string) => ({ 'x-forwarded-for': ip });

  it('count every call of a tRPC batch', async () => {
    const ip = from('192.0.2.50');
    const four = await fetch(`${app.url}/trpc/health.check,health.check,health.check,health.check?batch=1&input={}`, { headers: ip });
    expect(four.status).toBe(200);
    expect(four.headers.get('ratelimit-remaining')).toBe('6');
    const seven = await trpcBatch(app.url, 'health.check', Array(7).fill(undefined), ip);
    expect(seven.status).toBe(429);
  });

  it('group IPv6 clients by /64, and count IPv4-mapped addresses as IPv4', async () => {
    const login = (ip: string) => trpcCall(app.url, 'auth.login', { input: { usernameOrEmail: uniqueName('nobody'), password: 'whatever' }, headers: from(ip) }).then((r) => r.status);
    expect(await login('2001:db8:1:2::1')).toBe(401);
    expect((await rest(app.url, 'POST', '/api/auth/login', { json: { usernameOrEmail: 'nobody', password: 'x' }, headers: from('2001:db8:1:2:aaaa:bbbb:cccc:dddd') })).status).toBe(401);
    expect(await login('2001:DB8:1:2::ffff')).toBe(429);
    expect(await login('2001:db8:1:3::1')).toBe(401);
    expect(await login('203.0.113.7')).toBe(401);
    expect(await login('::ffff:203.0.113.7')).toBe(401);
    expect(await login('203.0.113.7')).toBe(429);
  });

  it('keys addresses by the configured IPv6 prefix', () => {
    expect(clientKey('2001:db8:1:2:3:4:5:6', 64)).toBe(clientKey('2001:db8:1:2::9', 64));
    expect(clientKey('2001:db8:1:2:3:4:5:6', 128)).not.toBe(clientKey('2001:db8:1:2::9', 128));
    expect(clientKey('2001:db8:1:2::1', 48)).toBe(clientKey('2001:db8:1:ffff::1', 48));
    expect(clientKey('::ffff:192.0.2.1', 64)).toBe('192.0.2.1');
    expect(clientKey('::ffff:c000:201', 64)).toBe('192.0.2.1');
    expect(clientKey('fe80::1%eth0', 64)).toBe(clientKey('fe80::2', 64));
    expect(clientKey('192.0.2.1', 64)).toBe('192.0.2.1');
    expect(clientKey(null, 64)).toBe('unknown');
  });
});

describe('Argon2 hashing', () => {
  it(`runs at most ${MAX_CONCURRENT_HASHES} at once, however many are asked for`, async () => {
    const hashes = await Promise.all(Array.from({ length: 8 }, (_, i) => hashPassword(`password number ${i}`)));
    expect(await Promise.all(hashes.map((hash, i) => verifyPassword(hash, `password number ${i}`)))).toEqual(Array(8).fill(true));
    const stats = hashingStats();
    expect(stats.peak).toBeLessThanOrEqual(MAX_CONCURRENT_HASHES);
    expect(stats).toMatchObject({ active: 0, waiting: 0 });
  });
});
