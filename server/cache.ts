// Read-through cache with exact invalidation: in-process LRU by default, Redis (shared by API processes) when
// REDIS_URL is set. Concurrent misses for a key share one load; a Redis outage falls back to loading. Without
// Redis on Postgres, processes tell each other what their writes invalidated (NOTIFY, see CachePeers).
import { randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Redis } from 'ioredis';
import superjson from 'superjson';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import type { NotificationListener } from '../db/notifications.ts';

export type Cache = {
  readonly backend: 'memory' | 'redis' | 'off';
  /** The cached value for `key`, or `load()`'s result, stored for CACHE_TTL_SECONDS. Errors are not cached. */
  getOrLoad: <T>(key: string, load: () => Promise<T>) => Promise<T>;
  /**
   * Removes keys after a write, before its response. Each key has a version that invalidation replaces with
   * one never used before; a load stores its result only if the version it saw when it began is still
   * current, so a load that read the old data before the write can never put it back. Other processes that
   * keep their own cache (CachePeers) are told before it resolves.
   */
  invalidate: (...keys: string[]) => Promise<void>;
  /**
   * Starts hearing other processes' invalidations (CachePeers), which the first read does too; until then reads
   * load and store nothing. Resolves once it has tried (a failure is logged, and a later read tries again).
   */
  start: () => Promise<void>;
  /** Stops hearing other processes' invalidations. */
  close: () => Promise<void>;
};

/**
 * How processes that each keep the cache in memory (no Redis) hear one another's invalidations: on Postgres,
 * NOTIFY on CACHE_CHANNEL (server/deps.ts). A process serves from its memory only while it listens: before its
 * LISTEN is up, and from the moment that connection drops until it is back (when the memory is emptied, since
 * what was announced meanwhile is lost), it reads the database. What remains is the time a notification takes
 * to arrive, a few milliseconds after the write's response.
 */
export type CachePeers = {
  /** Announces `payload` on CACHE_CHANNEL to every listening process. */
  publish: (payload: string) => Promise<void>;
  /** Hears CACHE_CHANNEL; resolves once listening. */
  listen: (listener: NotificationListener) => Promise<() => Promise<void>>;
};

export const CACHE_CHANNEL = 'cache_invalidation';

/** What travels on CACHE_CHANNEL: the keys, and which process sent them (it has already dropped them). */
type PeerMessage = { from: string; keys: string[] };

/** Postgres refuses a NOTIFY payload of 8,000 bytes or more: keys go in messages below this size. */
const PEER_MESSAGE_BYTES = 7_000;

/** A read: the value if cached, else the key's version for the load that follows (null: store nothing). */
type Lookup = { hit: true; value: unknown } | { hit: false; version: string | null };

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
function memoryStore(maxEntries: number, ttlMs: number): Store & { clear: () => void } {
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
    // Versions go too: a load under way finds none matching the one it began with, and stores nothing.
    clear: () => {
      values.clear();
      versions.clear();
    },
  };
}

/**
 * The in-process store of one of several processes (CachePeers): it answers from memory only while this process
 * hears the others, and its invalidations reach them before they resolve. `dropped` is told of keys (all of them:
 * null) that another process invalidated, for the loads under way to be left alone by later callers.
 */
function peeredStore(
  local: Store & { clear: () => void },
  peers: CachePeers,
  logger: Logger,
  dropped: (keys: string[] | null) => void,
): Store & { start: () => Promise<void>; close: () => Promise<void> } {
  const origin = randomUUID();
  // idle: not listening yet, or the last try failed (tried again from `retryAt`); lost: the connection dropped and
  // the listener is reconnecting by itself (its resync ends this).
  let state: 'idle' | 'starting' | 'on' | 'lost' = 'idle';
  let retryAt = 0;
  let unlisten: (() => Promise<void>) | null = null;
  let closed = false;
  const forgetAll = () => {
    local.clear();
    dropped(null);
  };
  const listener: NotificationListener = {
    message: (payload) => {
      let message: PeerMessage;
      try {
        message = JSON.parse(payload) as PeerMessage;
      } catch {
        return;
      }
      if (message.from === origin || !Array.isArray(message.keys)) return;
      const keys = message.keys.filter((key): key is string => typeof key === 'string');
      void local.invalidate(keys);
      dropped(keys);
    },
    resync: () => {
      if (closed) return;
      forgetAll();
      state = 'on';
    },
    lost: () => {
      state = 'lost';
      forgetAll();
    },
  };
  let attempt: Promise<void> | null = null;
  /** Starts listening unless it is (or is reconnecting), or a failed try is too recent; resolves once it has tried. */
  const startListening = (): Promise<void> => {
    if (state !== 'idle' || closed || Date.now() < retryAt) return attempt ?? Promise.resolve();
    state = 'starting';
    attempt = peers.listen(listener).then(
      (stop) => {
        unlisten = stop;
        if (closed) return void stop();
        // Nothing was stored before: the memory is empty, and from now on every invalidation is heard.
        if (state === 'starting') state = 'on';
      },
      (error: unknown) => {
        state = 'idle';
        retryAt = Date.now() + 5_000;
        logger.warn({ err: error }, 'cache: cannot hear the other processes; reading from the database until it can');
      },
    );
    return attempt;
  };
  const publish = async (keys: string[]) => {
    let batch: string[] = [];
    let bytes = 0;
    const send = () => peers.publish(JSON.stringify({ from: origin, keys: batch } satisfies PeerMessage));
    for (const key of keys) {
      const size = Buffer.byteLength(key) + 3;
      if (batch.length > 0 && bytes + size > PEER_MESSAGE_BYTES) {
        await send();
        batch = [];
        bytes = 0;
      }
      batch.push(key);
      bytes += size;
    }
    if (batch.length > 0) await send();
  };
  return {
    lookup: async (key) => {
      if (state === 'on') return local.lookup(key);
      void startListening();
      return { hit: false, version: null };
    },
    storeIfCurrent: async (key, version, value, ttl) => {
      if (state === 'on') await local.storeIfCurrent(key, version, value, ttl);
    },
    invalidate: async (keys) => {
      await local.invalidate(keys);
      await publish(keys);
    },
    start: startListening,
    close: async () => {
      closed = true;
      await unlisten?.();
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

/**
 * `peers`: how this process hears other processes' invalidations when it keeps the cache in memory (Postgres
 * without Redis); null where it is the only process (SQLite) or Redis is shared.
 */
export function createCache(
  config: Pick<Config, 'CACHE_TTL_SECONDS' | 'CACHE_MAX_ENTRIES' | 'REDIS_KEY_PREFIX'>,
  redis: Redis | null,
  logger: Logger,
  peers: CachePeers | null = null,
): Cache {
  const ttlMs = config.CACHE_TTL_SECONDS * 1000;
  if (ttlMs === 0) {
    return { backend: 'off', getOrLoad: (_key, load) => load(), invalidate: async () => {}, start: async () => {}, close: async () => {} };
  }
  const inflight = new Map<string, Promise<unknown>>();
  const memory = redis ? null : memoryStore(config.CACHE_MAX_ENTRIES, ttlMs);
  const dropInflight = (keys: string[] | null) => {
    if (keys === null) inflight.clear();
    else for (const key of keys) inflight.delete(key);
  };
  const peered = memory && peers ? peeredStore(memory, peers, logger, dropInflight) : null;
  const store: Store = redis ? redisStore(redis, config.REDIS_KEY_PREFIX, ttlMs) : (peered ?? memory!);
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
  // Without Redis there is no such event: tried again after a while (a process that never reads, a worker,
  // would otherwise never tell the others), backing off to 5 s.
  let replayDelay = 250;
  let replayTimer: NodeJS.Timeout | null = null;
  const replayLater = () => {
    if (redis || replayTimer) return;
    replayTimer = setTimeout(() => {
      replayTimer = null;
      void replayInvalidations().then((done) => {
        replayDelay = done ? 250 : Math.min(replayDelay * 2, 5_000);
        if (!done) replayLater();
      });
    }, replayDelay);
    replayTimer.unref();
  };

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
        replayLater();
      });
    },
    start: async () => {
      await peered?.start();
    },
    close: async () => {
      if (replayTimer) clearTimeout(replayTimer);
      await peered?.close();
    },
  };
}
