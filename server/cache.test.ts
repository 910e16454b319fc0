// The cache module on both backends: hits, single flight, invalidation against racing loads, TTL, outages.
import { afterAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createCache, type Cache } from './cache.ts';
import { createRedis, redisReady } from './redis.ts';
import { captureLogs } from './testing/harness.ts';
import { uniqueName } from './testing/factories.ts';

const redisUrl = process.env.TEST_REDIS_URL;
const backends = [
  { name: 'memory', redis: false },
  { name: 'redis', redis: true },
] as const;

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe.each(backends)('cache on $name', ({ redis: usesRedis }) => {
  const clients: Redis[] = [];
  afterAll(async () => {
    for (const client of clients) await client.quit();
  });
  const run = usesRedis ? describe.skipIf(!redisUrl) : describe;

  async function makeCache(ttlSeconds = 300): Promise<Cache> {
    const { logger } = captureLogs();
    const client = usesRedis ? createRedis(redisUrl!, logger) : null;
    if (client) {
      clients.push(client);
      await redisReady(client, logger);
    }
    return createCache({ CACHE_TTL_SECONDS: ttlSeconds, CACHE_MAX_ENTRIES: 1000, REDIS_KEY_PREFIX: `test:${uniqueName('cache')}:` }, client, logger);
  }

  run(usesRedis ? '(TEST_REDIS_URL)' : '(in process)', () => {
    it('loads once, then serves the stored value, Dates included', async () => {
      const cache = await makeCache();
      let loads = 0;
      const load = async () => ({ n: ++loads, at: new Date('2030-01-01T00:00:00Z') });
      const first = await cache.getOrLoad('k', load);
      const second = await cache.getOrLoad('k', load);
      expect(first).toEqual({ n: 1, at: new Date('2030-01-01T00:00:00Z') });
      expect(second).toEqual(first);
      expect(second.at).toBeInstanceOf(Date);
      expect(loads).toBe(1);
    });

    it('shares one load among concurrent misses of a key', async () => {
      const cache = await makeCache();
      let loads = 0;
      const gate = deferred<void>();
      const load = async () => {
        loads++;
        await gate.promise;
        return 'value';
      };
      const readers = Array.from({ length: 20 }, () => cache.getOrLoad('shared', load));
      gate.resolve();
      expect(await Promise.all(readers)).toEqual(Array(20).fill('value'));
      expect(loads).toBe(1);
    });

    it('does not cache failures', async () => {
      const cache = await makeCache();
      await expect(cache.getOrLoad('fails', async () => Promise.reject(new Error('nope')))).rejects.toThrow('nope');
      expect(await cache.getOrLoad('fails', async () => 'recovered')).toBe('recovered');
    });

    it('serves fresh data after invalidation, even when a load that began before the write ends after it', async () => {
      const cache = await makeCache();
      expect(await cache.getOrLoad('race', async () => 'v1')).toBe('v1');
      await cache.invalidate('race');
      // A reader starts loading the old state…
      const slow = deferred<string>();
      const loading = deferred<void>();
      const staleRead = cache.getOrLoad('race', () => {
        loading.resolve();
        return slow.promise;
      });
      await loading.promise;
      // …the data changes and the key is invalidated while that load is still running…
      await cache.invalidate('race');
      // …then the old load finishes: its caller gets what it read, but the cache must not keep it.
      slow.resolve('v1-stale');
      expect(await staleRead).toBe('v1-stale');
      expect(await cache.getOrLoad('race', async () => 'v2')).toBe('v2');
    });

    it('expires entries after the TTL', async () => {
      const cache = await makeCache(1);
      let version = 0;
      const load = async () => ++version;
      expect(await cache.getOrLoad('ttl', load)).toBe(1);
      expect(await cache.getOrLoad('ttl', load)).toBe(1);
      await expect.poll(() => cache.getOrLoad('ttl', load), { timeout: 3000, interval: 100 }).toBeGreaterThan(1);
    });

    it('can be turned off with CACHE_TTL_SECONDS=0', async () => {
      const cache = await makeCache(0);
      let loads = 0;
      await cache.getOrLoad('off', async () => ++loads);
      await cache.getOrLoad('off', async () => ++loads);
      expect(loads).toBe(2);
      expect(cache.backend).toBe('off');
    });
  });
});

describe('cache when Redis is down', () => {
  it('reads through to the loader and logs the outage once, never failing', async () => {
    const { logger, lines } = captureLogs();
    const redis = createRedis('redis://127.0.0.1:1', logger);
    try {
      const cache = createCache({ CACHE_TTL_SECONDS: 300, CACHE_MAX_ENTRIES: 10, REDIS_KEY_PREFIX: 'down:' }, redis, logger);
      let loads = 0;
      for (let i = 0; i < 3; i++) expect(await cache.getOrLoad('k', async () => ++loads)).toBe(i + 1);
      await cache.invalidate('k');
      expect(lines.filter((line) => line.msg === 'cache store failed; reading from the database until it is back')).toHaveLength(1);
    } finally {
      redis.disconnect();
    }
  });
});
