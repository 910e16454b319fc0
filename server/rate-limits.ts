// Named rate limits (per minute) on rate-limiter-flexible: in memory, or in Redis so API processes share them.
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';

export type LimitName = 'global' | 'login' | 'loginFailures' | 'register';

export type LimitResult = {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the current window's points are back. */
  resetSeconds: number;
};

export type RateLimits = {
  /** Spends `points` from `key`'s budget; `allowed` is false once it is exhausted. */
  consume: (name: LimitName, key: string, points?: number) => Promise<LimitResult>;
  /** Reads `key`'s budget without spending it. */
  peek: (name: LimitName, key: string) => Promise<LimitResult>;
  reset: (name: LimitName, key: string) => Promise<void>;
};

function limitsFrom(config: Config): Record<LimitName, number> {
  return {
    global: config.RATE_LIMIT_GLOBAL_PER_MINUTE,
    login: config.RATE_LIMIT_LOGIN_PER_MINUTE,
    loginFailures: config.RATE_LIMIT_LOGIN_FAILURES_PER_MINUTE,
    register: config.RATE_LIMIT_REGISTER_PER_MINUTE,
  };
}

const WINDOW_SECONDS = 60;

export function createRateLimits(config: Config, redis: Redis | null, logger: Logger): RateLimits {
  const limits = limitsFrom(config);
  const limiters = new Map<LimitName, RateLimiterAbstract>();
  let warned = false;
  for (const [name, points] of Object.entries(limits) as [LimitName, number][]) {
    const options = { keyPrefix: `${config.REDIS_KEY_PREFIX}rl:${name}`, points, duration: WINDOW_SECONDS };
    // If Redis fails, each process falls back to its own memory budget rather than failing requests.
    const insuranceLimiter = new RateLimiterMemory(options);
    limiters.set(name, redis ? new RateLimiterRedis({ ...options, storeClient: redis, insuranceLimiter }) : insuranceLimiter);
  }

  /** The insurance limiter normally answers when Redis fails; should both fail, requests are not refused. */
  const storeFailed = (error: unknown): null => {
    if (!warned) {
      warned = true;
      logger.warn({ err: error }, 'rate limiter store failed; allowing the request');
    }
    return null;
  };

  const toResult = (name: LimitName, res: RateLimiterRes, allowed: boolean): LimitResult => ({
    allowed,
    limit: limits[name],
    remaining: Math.max(0, res.remainingPoints),
    resetSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
  });

  return {
    consume: async (name, key, points = 1) => {
      try {
        return toResult(name, await limiters.get(name)!.consume(key, points), true);
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) return toResult(name, rejection, false);
        storeFailed(rejection);
        return { allowed: true, limit: limits[name], remaining: limits[name], resetSeconds: WINDOW_SECONDS };
      }
    },
    peek: async (name, key) => {
      const res = await limiters
        .get(name)!
        .get(key)
        .catch((error: unknown) => storeFailed(error));
      if (!res) return { allowed: true, limit: limits[name], remaining: limits[name], resetSeconds: WINDOW_SECONDS };
      return toResult(name, res, res.consumedPoints < limits[name]);
    },
    reset: async (name, key) => {
      await limiters
        .get(name)!
        .delete(key)
        .catch((error: unknown) => storeFailed(error));
    },
  };
}
