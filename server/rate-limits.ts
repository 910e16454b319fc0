// Named rate limits (per minute) on rate-limiter-flexible: in memory, or in Redis so API processes share them.
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';

export type LimitName = 'global' | 'login' | 'loginFailures' | 'register' | 'passwordReset' | 'passwordResetEmail';

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

/** Points per window, and the window in seconds. */
function limitsFrom(config: Config): Record<LimitName, { points: number; seconds: number }> {
  const perMinute = (points: number) => ({ points, seconds: 60 });
  return {
    global: perMinute(config.RATE_LIMIT_GLOBAL_PER_MINUTE),
    login: perMinute(config.RATE_LIMIT_LOGIN_PER_MINUTE),
    loginFailures: perMinute(config.RATE_LIMIT_LOGIN_FAILURES_PER_MINUTE),
    register: perMinute(config.RATE_LIMIT_REGISTER_PER_MINUTE),
    passwordReset: perMinute(config.RATE_LIMIT_PASSWORD_RESET_PER_MINUTE),
    passwordResetEmail: { points: config.RATE_LIMIT_PASSWORD_RESET_PER_EMAIL_PER_HOUR, seconds: 3600 },
  };
}

export function createRateLimits(config: Config, redis: Redis | null, logger: Logger): RateLimits {
  const limits = limitsFrom(config);
  const limiters = new Map<LimitName, RateLimiterAbstract>();
  let warned = false;
  for (const [name, { points, seconds }] of Object.entries(limits) as [LimitName, { points: number; seconds: number }][]) {
    const options = { keyPrefix: `${config.REDIS_KEY_PREFIX}rl:${name}`, points, duration: seconds };
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

  /** An untouched budget. */
  const fresh = (name: LimitName): LimitResult => ({ allowed: true, limit: limits[name].points, remaining: limits[name].points, resetSeconds: limits[name].seconds });

  const toResult = (name: LimitName, res: RateLimiterRes, allowed: boolean): LimitResult => ({
    allowed,
    limit: limits[name].points,
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
        return fresh(name);
      }
    },
    peek: async (name, key) => {
      const res = await limiters
        .get(name)!
        .get(key)
        .catch((error: unknown) => storeFailed(error));
      if (!res) return fresh(name);
      return toResult(name, res, res.consumedPoints < limits[name].points);
    },
    reset: async (name, key) => {
      await limiters
        .get(name)!
        .delete(key)
        .catch((error: unknown) => storeFailed(error));
    },
  };
}
