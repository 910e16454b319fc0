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

  async function makeCache(ttlSeconds = 300, maxEntries = 1000): Promise<Cache> {
    return (await makeCacheWithPrefix(ttlSeconds, maxEntries)).cache;
  }

  async function makeCacheWithPrefix(ttlSeconds: number, maxEntries: number): Promise<{ cache: Cache; client: Redis | null; prefix: string }> {
    const { logger } = captureLogs();
    const client = usesRedis ? createRedis(redisUrl!, logger) : null;
    if (client) {
      clients.push(client);
      await redisReady(client, logger);
    }
    const prefix = `test:${uniqueName('cache')}:`;
    return { cache: createCache({ CACHE_TTL_SECONDS: ttlSeconds, CACHE_MAX_ENTRIES: maxEntries, REDIS_KEY_PREFIX: prefix }, client, logger), client, prefix };
  }

  /**
   * Makes the store forget the key's version, as expiry does: Redis loses the version key; the in-process
   * store evicts it (it keeps 4 versions per entry allowed, 4 here) when other keys are invalidated.
   */
  async function forgetVersion(setup: { cache: Cache; client: Redis | null; prefix: string }, key: string) {
    if (setup.client) await setup.client.del(`${setup.prefix}cv:${key}`);
    else for (let i = 0; i < 8; i++) await setup.cache.invalidate(`other-${i}`);
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

    it('never puts old data back when the version a straddling load began with was forgotten (expiry, eviction)', async () => {
      const setup = await makeCacheWithPrefix(300, 1);
      const { cache } = setup;
      // A reader starts loading the old state of a key nobody invalidated yet…
      const slow = deferred<string>();
      const loading = deferred<void>();
      const staleRead = cache.getOrLoad('straddle', () => {
        loading.resolve();
        return slow.promise;
      });
      await loading.promise;
      // …a write invalidates it, and the store then forgets the key's version…
      await cache.invalidate('straddle');
      await forgetVersion(setup, 'straddle');
      // …so when the old load ends, the version it began with must not look current again.
      slow.resolve('old');
      expect(await staleRead).toBe('old');
      expect(await cache.getOrLoad('straddle', async () => 'new')).toBe('new');
    });

    it('keeps working after a forgotten version: stores again, and invalidation still wins', async () => {
      const setup = await makeCacheWithPrefix(300, 1);
      const { cache } = setup;
      expect(await cache.getOrLoad('again', async () => 'v1')).toBe('v1');
      await cache.invalidate('again');
      await forgetVersion(setup, 'again');
      let loads = 0;
      expect(await cache.getOrLoad('again', async () => `v2-${++loads}`)).toBe('v2-1');
      expect(await cache.getOrLoad('again', async () => `v2-${++loads}`)).toBe('v2-1');
      await cache.invalidate('again');
      expect(await cache.getOrLoad('again', async () => 'v3')).toBe('v3');
    });

    it('expires entries after the TTL', async () => {
      const cache = await makeCache(1);
      let version = 0;
      const load = async () => ++version;
      expect(await cache.getOrLoad('ttl', load)).toBe(1);
      expect(await cache.getOrLoad('ttl', load)).toBe(1);
      await expect.poll(() => cache.getOrLoad('ttl', load), { interval: 100 }).toBeGreaterThan(1);
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

describe.skipIf(!redisUrl)('cache versions in Redis', () => {
  it('only go up, across processes, even after their keys expire', async () => {
    const { logger } = captureLogs();
    const prefix = `test:${uniqueName('cache')}:`;
    const [one, two] = [createRedis(redisUrl!, logger), createRedis(redisUrl!, logger)];
    try {
      await Promise.all([redisReady(one, logger), redisReady(two, logger)]);
      const config = { CACHE_TTL_SECONDS: 300, CACHE_MAX_ENTRIES: 10, REDIS_KEY_PREFIX: prefix };
      const caches = [createCache(config, one, logger), createCache(config, two, logger)];
      const versionKey = `${prefix}cv:k`;
      const seen: number[] = [];
      for (let round = 0; round < 6; round++) {
        const cache = caches[round % 2];
        if (round % 3 === 0) await cache.getOrLoad('k', async () => round);
        else await cache.invalidate('k');
        seen.push(Number(await one.get(versionKey)));
        // The version key expires (2 x TTL after its last change): the next one must still be new.
        await one.del(versionKey);
        await cache.invalidate('unrelated');
      }
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
      expect(new Set(seen).size).toBe(seen.length);
      expect(Math.min(...seen)).toBeGreaterThan(0);
    } finally {
      await Promise.all([one.quit(), two.quit()]);
    }
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
