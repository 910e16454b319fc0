// What only HTTP shows of accounts: the session cookie, CSRF, rate limits and their headers, on both dialects.
import { describe, expect, it } from 'vitest';
import { dialects, useTestServer } from '../testing/harness.ts';
import { createUser, manualClock, TEST_PASSWORD, uniqueName } from '../testing/factories.ts';
import { trpcCall as call, type TrpcResponse } from '../testing/http.ts';

const cookieValue = (setCookie: string | null) => /^(?:__Host-)?session=([^;]*)/.exec(setCookie ?? '')?.[1];

describe.each(dialects)('session cookie and CSRF on %s', (dialect) => {
  const clock = manualClock();
  const app = useTestServer(dialect, { clock, env: { CORS_ORIGINS: 'https://dashboard.example.com' } });

  async function registered() {
    const name = uniqueName('web');
    const result = await call(app.url, 'auth.register', { input: { username: name, email: `${name}@example.com`, password: 'a long enough password' } });
    expect(result.status).toBe(200);
    return { token: (result.body.result!.data as { token: string }).token, setCookie: result.headers.get('set-cookie') };
  }

  it('sets an HttpOnly, SameSite=Lax session cookie that lasts as long as the session', async () => {
    const { token, setCookie } = await registered();
    expect(cookieValue(setCookie)).toBe(token);
    expect(setCookie).toMatch(/^session=/);
    expect(setCookie).toMatch(/; Max-Age=259(1999|2000);/);
    expect(setCookie).toMatch(/; Path=\//);
    expect(setCookie).toMatch(/; HttpOnly/);
    expect(setCookie).toMatch(/; SameSite=Lax/);
    expect(setCookie).not.toMatch(/Secure/);
  });

  it('authenticates queries by cookie and renews the cookie when the session is extended', async () => {
    clock.set(new Date());
    const { token } = await registered();
    const me = await call(app.url, 'auth.me', { headers: { cookie: `session=${token}` } });
    expect(me.status).toBe(200);
    expect(me.headers.get('set-cookie')).toBeNull();
    clock.advance(20 * 24 * 60 * 60 * 1000);
    const later = await call(app.url, 'auth.me', { headers: { cookie: `other=1; session=${token}` } });
    expect(later.status).toBe(200);
    expect(cookieValue(later.headers.get('set-cookie'))).toBe(token);
    expect(later.headers.get('set-cookie')).toMatch(/Max-Age=259(1999|2000)/);
    clock.set(new Date());
  });

  it('clears a cookie that no longer names a session', async () => {
    const result = await call(app.url, 'auth.me', { headers: { cookie: 'session=stale-or-forged' } });
    expect(result.status).toBe(401);
    expect(result.headers.get('set-cookie')).toMatch(/^session=;.*Expires=Thu, 01 Jan 1970/);
  });

  it.each([
    ['no Origin', {}, 403],
    ['a foreign Origin', { origin: 'https://evil.example' }, 403],
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }, 403],
    ['a CORS_ORIGINS origin', { origin: 'https://dashboard.example.com' }, 200],
    ['Sec-Fetch-Site: same-origin', { 'sec-fetch-site': 'same-origin' }, 200],
  ])('answers a cookie-authenticated mutation with %s: %i', async (_case, headers, status) => {
    const { token } = await registered();
    const result = await call(app.url, 'users.updateMe', { input: { fullName: 'Changed' }, headers: { cookie: `session=${token}`, ...headers } });
    expect(result.status).toBe(status);
    if (status === 403) expect(result.body.error?.message).toMatch(/cross-site request refused/);
  });

  it('accepts the server’s own origin, and exempts bearer tokens from CSRF rules', async () => {
    const { token } = await registered();
    const own = await call(app.url, 'users.updateMe', { input: { fullName: 'Own' }, headers: { cookie: `session=${token}`, origin: app.url } });
    expect(own.status).toBe(200);
    const bearer = await call(app.url, 'users.updateMe', { input: { fullName: 'Bearer' }, headers: { authorization: `Bearer ${token}`, origin: 'https://evil.example' } });
    expect(bearer.status).toBe(200);
  });

  it('logs out: the session ends and the cookie is cleared', async () => {
    const { token } = await registered();
    const result = await call(app.url, 'auth.logout', { mutation: true, headers: { cookie: `session=${token}`, origin: app.url } });
    expect(result.status).toBe(200);
    expect(result.headers.get('set-cookie')).toMatch(/^session=;/);
    expect((await call(app.url, 'auth.me', { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
  });

  it('logs in over HTTP with the same cookie rules', async () => {
    const user = await createUser(app.deps);
    const result = await call(app.url, 'auth.login', { input: { usernameOrEmail: user.username, password: TEST_PASSWORD } });
    expect(result.status).toBe(200);
    expect(cookieValue(result.headers.get('set-cookie'))).toBe((result.body.result!.data as { token: string }).token);
  });
});

describe('session cookie in production', () => {
  const app = useTestServer('sqlite', { env: { NODE_ENV: 'production' } });

  it('is __Host- prefixed and Secure', async () => {
    const name = uniqueName('prod');
    const result = await call(app.url, 'auth.register', { input: { username: name, email: `${name}@example.com`, password: 'a long enough password' } });
    expect(result.headers.get('set-cookie')).toMatch(/^__Host-session=[a-z2-7]{32}; Max-Age=\d+; Path=\/; Expires=[^;]+; HttpOnly; Secure; SameSite=Lax$/);
  });
});

describe.each(dialects)('rate limits on %s', (dialect) => {
  const app = useTestServer(dialect, {
    env: {
      TRUST_PROXY: 'loopback',
      RATE_LIMIT_LOGIN_PER_MINUTE: '4',
      RATE_LIMIT_LOGIN_FAILURES_PER_MINUTE: '2',
      RATE_LIMIT_REGISTER_PER_MINUTE: '2',
      RATE_LIMIT_GLOBAL_PER_MINUTE: '40',
    },
  });
  let ipCounter = 0;
  /** A fresh client address per test, so budgets never carry over (TRUST_PROXY=loopback believes it). */
  const freshIp = () => ({ 'x-forwarded-for': `198.51.100.${++ipCounter}` });

  function expectLimited(result: TrpcResponse, limit: number) {
    expect(result.status).toBe(429);
    expect(result.body.error?.data.code).toBe('TOO_MANY_REQUESTS');
    expect(Number(result.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(result.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect(result.headers.get('ratelimit-limit')).toBe(String(limit));
    expect(result.headers.get('ratelimit-remaining')).toBe('0');
    expect(Number(result.headers.get('ratelimit-reset'))).toBeGreaterThan(0);
  }

  it('allows 2 registrations per minute per IP', async () => {
    const ip = freshIp();
    const register = () => {
      const name = uniqueName('rl');
      return call(app.url, 'auth.register', { input: { username: name, email: `${name}@example.com`, password: 'a long enough password' }, headers: ip });
    };
    expect((await register()).status).toBe(200);
    expect((await register()).status).toBe(200);
    expectLimited(await register(), 2);
    expect((await call(app.url, 'auth.register', { input: { username: uniqueName('rl'), email: `${uniqueName('rl')}@example.com`, password: 'a long enough password' }, headers: freshIp() })).status).toBe(200);
  });

  it('stops an account’s login from one IP after 2 failures, even with the right password', async () => {
    const ip = freshIp();
    const user = await createUser(app.deps);
    const login = (password: string, headers = ip, usernameOrEmail = user.username) => call(app.url, 'auth.login', { input: { usernameOrEmail, password }, headers });
    expect((await login('wrong password 1')).status).toBe(401);
    expect((await login('wrong password 2')).status).toBe(401);
    expectLimited(await login(TEST_PASSWORD), 2);
    // Another address, or another account from this address, is unaffected.
    expect((await login(TEST_PASSWORD, freshIp())).status).toBe(200);
    const other = await createUser(app.deps);
    expect((await login(TEST_PASSWORD, ip, other.username)).status).toBe(200);
  });

  it('resets the failure count after a successful login', async () => {
    const ip = freshIp();
    const user = await createUser(app.deps);
    const login = (password: string) => call(app.url, 'auth.login', { input: { usernameOrEmail: user.username, password }, headers: ip });
    expect((await login('wrong password')).status).toBe(401);
    expect((await login(TEST_PASSWORD)).status).toBe(200);
    expect((await login('wrong password')).status).toBe(401);
    expect((await login(TEST_PASSWORD)).status).toBe(200);
  });

  it('allows 4 login attempts per minute per IP across accounts', async () => {
    const ip = freshIp();
    const attempt = () => call(app.url, 'auth.login', { input: { usernameOrEmail: uniqueName('nobody'), password: 'whatever it is' }, headers: ip });
    for (let i = 0; i < 4; i++) expect((await attempt()).status).toBe(401);
    expectLimited(await attempt(), 4);
  });

  it('spends a global budget per IP on every /trpc request, with headers on each response, but not on probes', async () => {
    const ip = freshIp();
    const first = await call(app.url, 'health.check', { headers: ip });
    expect(first.headers.get('ratelimit-limit')).toBe('40');
    expect(first.headers.get('ratelimit-remaining')).toBe('39');
    for (let i = 0; i < 39; i++) expect((await call(app.url, 'health.check', { headers: ip })).status).toBe(200);
    expectLimited(await call(app.url, 'health.check', { headers: ip }), 40);
    expect((await fetch(`${app.url}/health/ready`, { headers: ip })).status).toBe(200);
    expect((await call(app.url, 'health.check', { headers: freshIp() })).status).toBe(200);
  });
});

describe('rate limits without a trusted proxy', () => {
  const app = useTestServer('sqlite', { env: { RATE_LIMIT_GLOBAL_PER_MINUTE: '3' } });

  it('ignores X-Forwarded-For, so a client cannot pick a fresh address per request', async () => {
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await call(app.url, 'health.check', { headers: { 'x-forwarded-for': `203.0.113.${i}` } })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });
});

const redisUrl = process.env.TEST_REDIS_URL;

describe.skipIf(!redisUrl)('rate limits shared through Redis (TEST_REDIS_URL)', () => {
  const env = { REDIS_URL: redisUrl ?? '', REDIS_KEY_PREFIX: `test:${uniqueName('rl')}:`, RATE_LIMIT_GLOBAL_PER_MINUTE: '5' };
  const first = useTestServer('sqlite', { env });
  const second = useTestServer('sqlite', { env });

  it('counts requests to two API processes against one budget', async () => {
    await first.deps.redis!.ping();
    await second.deps.redis!.ping();
    const statuses = [];
    for (let i = 0; i < 6; i++) statuses.push((await call(i % 2 === 0 ? first.url : second.url, 'health.check')).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
  });
});

describe('rate limits when Redis is down', () => {
  const app = useTestServer('sqlite', { env: { REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT_GLOBAL_PER_MINUTE: '3' } });

  it('fall back to this process’s memory instead of failing requests', async () => {
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await call(app.url, 'health.check')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });
});
