// Redis goes away under use and comes back: rate limits fall back to each process's memory and return to the
// shared budget; the cache reads through to the database, and once Redis is back it serves nothing stale
// (the invalidations it missed are replayed before anything is read from it).
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueName } from './testing/factories.ts';
import { dialects, useTestServer } from './testing/harness.ts';
import { rest } from './testing/http.ts';
import { startTcpProxy, type TcpProxy } from './testing/tcp-proxy.ts';

const redisUrl = process.env.TEST_REDIS_URL;

describe.skipIf(!redisUrl).each(dialects)('Redis outage and return on %s (TEST_REDIS_URL)', (dialect) => {
  let proxy: TcpProxy;
  let direct: Redis;
  const prefix = `test:${uniqueName('outage')}:`;
  beforeAll(async () => {
    const target = new URL(redisUrl!);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
    direct = new Redis(redisUrl!);
  });
  afterAll(async () => {
    await proxy.close();
    direct.disconnect();
  });
  // Two API processes' worth of deps sharing Redis (through the proxy); clients told apart by X-Forwarded-For.
  const env = () => ({ REDIS_URL: `redis://127.0.0.1:${proxy.port}`, REDIS_KEY_PREFIX: prefix, TRUST_PROXY: 'loopback', RATE_LIMIT_GLOBAL_PER_MINUTE: '4', CACHE_TTL_SECONDS: '300' });
  const first = useTestServer(dialect, { env });
  const second = useTestServer(dialect, { env });

  /** Calls alternating between the two servers from one client address until one is refused: how many passed. */
  async function budget(ip: string): Promise<number> {
    for (let passed = 0; passed < 20; passed++) {
      const server = passed % 2 === 0 ? first : second;
      const response = await rest(server.url, 'GET', '/api/health', { headers: { 'x-forwarded-for': ip } });
      if (response.status === 429) return passed;
      expect(response.status).toBe(200);
    }
    return 20;
  }
  const ready = () => [first, second].every((server) => server.deps.redis?.status === 'ready');

  it('falls back to memory while it is gone and returns to Redis, with nothing stale in the cache', async () => {
    await expect.poll(ready).toBe(true);
    // Shared: one budget of 4 across both processes.
    expect(await budget('198.51.100.1')).toBe(4);
    const registered = await rest<{ token: string; user: { id: string } }>(first.url, 'POST', '/api/auth/register', {
      json: { username: uniqueName('r'), email: `${uniqueName('r')}@example.com`, password: 'a long enough password', fullName: 'Before Outage' },
      headers: { 'x-forwarded-for': '198.51.100.10' },
    });
    const { token, user } = registered.body;
    // Each read from an address of its own, so reads never spend the small budget.
    let reads = 0;
    const profile = () => rest<{ fullName: string | null }>(first.url, 'GET', `/api/users/${user.id}`, { headers: { 'x-forwarded-for': `203.0.113.${++reads}` } });
    expect((await profile()).body.fullName).toBe('Before Outage');
    await expect.poll(async () => (await direct.keys(`${prefix}*user:${user.id}`)).length).toBeGreaterThan(0);

    await proxy.cut();
    // Requests still succeed; each process counts on its own meanwhile (4 each: 8 in all).
    expect(await budget('198.51.100.2')).toBe(8);
    // A write while Redis is gone: its invalidation cannot reach Redis, which keeps the old profile.
    const updated = await rest(first.url, 'PATCH', '/api/users/me', { token, json: { fullName: 'During Outage' }, headers: { 'x-forwarded-for': '198.51.100.12' } });
    expect(updated.status).toBe(200);
    expect((await profile()).body.fullName).toBe('During Outage');

    await proxy.resume();
    await expect.poll(ready, { interval: 50 }).toBe(true);
    // The profile read from here on is the new one, never what Redis held from before the outage.
    await expect.poll(async () => (await profile()).body.fullName, { interval: 50 }).toBe('During Outage');
    expect((await profile()).body.fullName).toBe('During Outage');
    const stored = await direct.keys(`${prefix}*user:${user.id}`);
    for (const key of stored) expect(await direct.get(key)).not.toContain('Before Outage');
    // And the budget is shared again.
    expect(await budget('198.51.100.3')).toBe(4);
  });
});
