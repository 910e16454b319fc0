// The Redis connection when REDIS_URL is set: shared rate limits now, the shared cache later.
import { Redis } from 'ioredis';
import type { Logger } from './logger.ts';

/** Connects lazily and keeps retrying; commands fail fast while it is down so callers can degrade. */
export function createRedis(url: string, logger: Logger): Redis {
  const redis = new Redis(url, {
    lazyConnect: false,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2_000,
    // A Redis that stops answering must not hold requests: commands give up and callers degrade.
    commandTimeout: 1_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 5_000),
  });
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    logger.warn({ err }, 'redis unavailable');
  });
  redis.on('ready', () => {
    if (down) logger.info('redis available again');
    down = false;
  });
  return redis;
}

/** Waits (bounded) for the first connection, so the first requests find Redis ready; logs and goes on if not. */
export async function redisReady(redis: Redis, logger: Logger, timeoutMs = 3_000): Promise<void> {
  if (redis.status === 'ready') return;
  const ready = await new Promise<boolean>((resolve) => {
    const settle = (value: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('error', onError);
      resolve(value);
    };
    const onReady = () => settle(true);
    const onError = () => settle(false);
    const timer = setTimeout(onError, timeoutMs);
    redis.once('ready', onReady);
    redis.once('error', onError);
  });
  if (!ready) logger.warn({ timeoutMs }, 'redis not reachable at start; continuing without it until it is');
}
