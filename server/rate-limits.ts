// Named rate limits (per minute) on rate-limiter-flexible: in memory, or in Redis so API processes share them.
import { isIPv4, isIPv6 } from 'node:net';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';

export type LimitName = 'global' | 'login' | 'loginFailures' | 'register' | 'passwordReset' | 'passwordResetEmail' | 'passwordChecks' | 'emailChange';

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
  /** The key a client address spends per-IP budgets under: IPv6 grouped by RATE_LIMIT_IPV6_PREFIX, IPv4-mapped as IPv4. */
  ipKey: (ip: string | null | undefined) => string;
};

/** The eight 16-bit groups of an IPv6 address (without a zone), or null when it is not one. */
function ipv6Groups(address: string): number[] | null {
  let text = address;
  const tail: number[] = [];
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    if (!isIPv4(dotted[2])) return null;
    const [a, b, c, d] = dotted[2].split('.').map(Number);
    tail.push((a << 8) | b, (c << 8) | d);
    text = dotted[1].endsWith('::') ? dotted[1] : dotted[1].slice(0, -1);
  }
  const [head, rest] = text.split('::', 2) as [string, string | undefined];
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16)));
  const left = parse(head);
  const right = [...(rest === undefined ? [] : parse(rest)), ...tail];
  if (rest === undefined) return left.length + tail.length === 8 ? [...left, ...tail] : null;
  const missing = 8 - left.length - right.length;
  return missing >= 1 ? [...left, ...Array<number>(missing).fill(0), ...right] : null;
}

/**
 * The per-IP budget key of a client address. One IPv6 subscriber usually has a whole /64 (and can pick any
 * address in it), so IPv6 addresses are grouped by `ipv6Prefix` bits; IPv4-mapped IPv6 addresses (::ffff:a.b.c.d,
 * what a dual-stack socket reports for IPv4 clients) are their IPv4 address.
 */
export function clientKey(ip: string | null | undefined, ipv6Prefix: number): string {
  if (!ip) return 'unknown';
  const address = ip.split('%', 1)[0];
  // No colon, no IPv6 (node's isIPv6 is one long regular expression, run on every request's address).
  if (!address.includes(':') || !isIPv6(address)) return address;
  const groups = ipv6Groups(address.toLowerCase());
  if (!groups) return address;
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return [groups[6] >> 8, groups[6] & 0xff, groups[7] >> 8, groups[7] & 0xff].join('.');
  }
  const kept = groups.map((group, index) => {
    const bits = Math.min(16, Math.max(0, ipv6Prefix - index * 16));
    return bits === 0 ? 0 : group & ((0xffff << (16 - bits)) & 0xffff);
  });
  return `${kept.map((group) => group.toString(16)).join(':')}/${ipv6Prefix}`;
}

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
    passwordChecks: perMinute(config.RATE_LIMIT_PASSWORD_CHECKS_PER_MINUTE),
    // A taken address is a CONFLICT, so trying addresses tells which have accounts: as tight as registration.
    emailChange: perMinute(config.RATE_LIMIT_REGISTER_PER_MINUTE),
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
    ipKey: (ip) => clientKey(ip, config.RATE_LIMIT_IPV6_PREFIX),
  };
}
