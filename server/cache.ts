// Read-through cache with exact invalidation: in-process LRU by default, Redis (shared by API processes) when
// REDIS_URL is set. Concurrent misses for a key share one load; a Redis outage falls back to loading.
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Redis } from 'ioredis';
import superjson from 'superjson';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';

export type Cache = {
  readonly backend: 'memory' | 'redis' | 'off';
  /** The cached value for `key`, or `load()`'s result, stored for CACHE_TTL_SECONDS. Errors are not cached. */
  getOrLoad: <T>(key: string, load: () => Promise<T>) => Promise<T>;
  /**
   * Removes keys after a write, before its response. Each key has a version that invalidation replaces with
   * one never used before; a load stores its result only if the version it saw when it began is still
   * current, so a load that read the old data before the write can never put it back.
   */
  invalidate: (...keys: string[]) => Promise<void>;
};

/** A read: the value if cached, else the key's version for the load that follows. */
type Lookup = { hit: true; value: unknown } | { hit: false; version: string };

type Store = {
  lookup: (key: string) => Promise<Lookup>;
  /** Stores the value unless the key's version moved on since `version` was read (compare-and-set). */
  storeIfCurrent: (key: string, version: string, value: unknown, ttlMs: number) => Promise<void>;
  /** Deletes the values and bumps the versions. */
  invalidate: (keys: string[]) => Promise<void>;
};

/** Frozen, so a caller that mutated a cached object would throw instead of corrupting later reads. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value) && !(value instanceof Date)) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

/**
 * Versions never repeat. A key whose version was forgotten (expired, evicted) gets a fresh one on its next
 * miss, and a store needs the version it began with to be the key's version still: a forgotten one matches
 * nothing. Were a forgotten version to restart at a number it held before, a load that began before a
 * write could find "its" version again and put the old data back.
 */

/** Keeps the objects themselves (frozen): no serialization on the hot path. */
function memoryStore(maxEntries: number, ttlMs: number): Store {
  const values = new LRUCache<string, { value: unknown }>({ max: maxEntries });
  // Versions outlive values (a load may run after its value expired) and are bounded like them.
  const versions = new LRUCache<string, string>({ max: maxEntries * 4, ttl: ttlMs * 2 });
  // Unique to this store: a counter that only goes up, behind an epoch no other store shares.
  const epoch = randomUUID();
  let counter = 0;
  const nextVersion = () => `${epoch}:${++counter}`;
  return {
    lookup: async (key) => {
      const entry = values.get(key);
      if (entry) return { hit: true, value: entry.value };
      let version = versions.get(key);
      if (version === undefined) versions.set(key, (version = nextVersion()));
      return { hit: false, version };
    },
    storeIfCurrent: async (key, version, value, ttl) => {
      if (versions.get(key) === version) values.set(key, { value: deepFreeze(value) }, { ttl });
    },
    invalidate: async (keys) => {
      for (const key of keys) {
        values.delete(key);
        versions.set(key, nextVersion());
      }
    },
  };
}

/**
 * Gives a key without a version a fresh one: the next number of a counter that never expires (KEYS[2]), so a
 * version is never handed out twice, whichever process asks.
 */
const VERSION_OF = `
local version = redis.call('GET', KEYS[1])
if not version then
  version = tostring(redis.call('INCR', KEYS[2]))
  redis.call('SET', KEYS[1], version, 'PX', ARGV[1])
end
return version`;

/** SET only while the version key still holds the version the load began with (atomic in Redis). */
const STORE_IF_CURRENT = `
if redis.call('GET', KEYS[2]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return nil`;

/** KEYS: the counter, then value key and version key of each cache key. Deletes each value, gives each a new version. */
const INVALIDATE = `
for i = 2, #KEYS, 2 do
  redis.call('DEL', KEYS[i])
  redis.call('SET', KEYS[i + 1], tostring(redis.call('INCR', KEYS[1])), 'PX', ARGV[1])
end
return #KEYS`;

/** Values travel as superjson text, so Dates survive the round trip. */
function redisStore(redis: Redis, prefix: string, ttlMs: number): Store {
  const valueKey = (key: string) => `${prefix}c:${key}`;
  const versionKey = (key: string) => `${prefix}cv:${key}`;
  // Never expires: one key, whatever the number of cache keys.
  const counterKey = `${prefix}cv-counter`;
  return {
    lookup: async (key) => {
      const [text, version] = await redis.mget(valueKey(key), versionKey(key));
      if (text !== null) return { hit: true, value: superjson.parse(text) };
      return { hit: false, version: version ?? String(await redis.eval(VERSION_OF, 2, versionKey(key), counterKey, ttlMs * 2)) };
    },
    storeIfCurrent: async (key, version, value, ttl) => {
      await redis.eval(STORE_IF_CURRENT, 2, valueKey(key), versionKey(key), version, superjson.stringify(value), ttl);
    },
    invalidate: async (keys) => {
      if (keys.length === 0) return;
      const redisKeys = [counterKey, ...keys.flatMap((key) => [valueKey(key), versionKey(key)])];
      await redis.eval(INVALIDATE, redisKeys.length, ...redisKeys, ttlMs * 2);
    },
  };
}

export function createCache(config: Pick<Config, 'CACHE_TTL_SECONDS' | 'CACHE_MAX_ENTRIES' | 'REDIS_KEY_PREFIX'>, redis: Redis | null, logger: Logger): Cache {
  const ttlMs = config.CACHE_TTL_SECONDS * 1000;
  if (ttlMs === 0) {
    return { backend: 'off', getOrLoad: (_key, load) => load(), invalidate: async () => {} };
  }
  const store = redis ? redisStore(redis, config.REDIS_KEY_PREFIX, ttlMs) : memoryStore(config.CACHE_MAX_ENTRIES, ttlMs);
  const inflight = new Map<string, Promise<unknown>>();
  /**
   * Keys whose invalidation failed (the store was down): Redis may still hold their old values, so nothing is
   * read from the store until these are invalidated there too, which is tried first on every read.
   */
  const unsent = new Set<string>();
  let degraded = false;
  const storeFailed = (error: unknown) => {
    if (!degraded) {
      degraded = true;
      logger.warn({ err: error }, 'cache store failed; reading from the database until it is back');
    }
  };
  const storeWorked = () => {
    if (degraded) logger.info('cache store is back');
    degraded = false;
  };

  /** Sends the invalidations the store missed; true once it has them all. */
  async function replayInvalidations(): Promise<boolean> {
    const keys = [...unsent];
    try {
      await store.invalidate(keys);
    } catch (error) {
      storeFailed(error);
      return false;
    }
    for (const key of keys) unsent.delete(key);
    storeWorked();
    return true;
  }

  // As soon as Redis is back, so other processes do not read what this one failed to invalidate for long.
  redis?.on('ready', () => {
    if (unsent.size > 0) void replayInvalidations();
  });

  async function loadAndStore<T>(key: string, version: string | null, load: () => Promise<T>): Promise<T> {
    const value = await load();
    if (version !== null) await store.storeIfCurrent(key, version, value, ttlMs).then(storeWorked, storeFailed);
    return value;
  }

  return {
    backend: redis ? 'redis' : 'memory',
    getOrLoad: async <T>(key: string, load: () => Promise<T>): Promise<T> => {
      if (unsent.size > 0 && !(await replayInvalidations())) return load();
      // With the store unreachable there is no version to compare against: load, and store nothing.
      const found = await store.lookup(key).then(
        (lookup) => {
          storeWorked();
          return lookup;
        },
        (error: unknown) => {
          storeFailed(error);
          return null;
        },
      );
      if (found?.hit) return found.value as T;
      let pending = inflight.get(key) as Promise<T> | undefined;
      if (!pending) {
        pending = loadAndStore(key, found ? found.version : null, load).finally(() => {
          if (inflight.get(key) === pending) inflight.delete(key);
        });
        inflight.set(key, pending);
      }
      return pending;
    },
    invalidate: async (...keys) => {
      // Callers arriving from now on must not join a load that may have read the old data.
      for (const key of keys) inflight.delete(key);
      await store.invalidate(keys).then(storeWorked, (error: unknown) => {
        storeFailed(error);
        for (const key of keys) unsent.add(key);
      });
    },
  };
}
