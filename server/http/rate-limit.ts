// The global per-IP budget for /trpc and /api (a batch spends one unit per call), and the RateLimit-* / Retry-After headers every limit answers with.
import type { NextFunction, Request, Response } from 'express';
import type { TRPCError } from '@trpc/server';
import { AppError } from '../errors.ts';
import type { LimitResult, RateLimits } from '../rate-limits.ts';
import { sendError } from './errors.ts';
import { requestStateOf } from './request-state.ts';

/** Headers of the IETF RateLimit draft (as widely deployed), plus Retry-After once the budget is spent. */
export function rateLimitHeaders(result: Pick<LimitResult, 'limit' | 'remaining' | 'resetSeconds' | 'allowed'>): Record<string, string> {
  const headers: Record<string, string> = {
    'ratelimit-limit': String(result.limit),
    'ratelimit-remaining': String(result.remaining),
    'ratelimit-reset': String(result.resetSeconds),
  };
  if (!result.allowed) headers['retry-after'] = String(result.resetSeconds);
  return headers;
}

/** Headers for a response whose calls hit a procedure's own rate limit (login, register), or found the database unreachable (Retry-After). */
export function errorRateLimitHeaders(errors: TRPCError[]): Record<string, string> {
  for (const error of errors) {
    const cause = error.cause;
    if (cause instanceof AppError && cause.code === 'SERVICE_UNAVAILABLE' && cause.retryAfterSeconds !== undefined) return { 'retry-after': String(cause.retryAfterSeconds) };
    if (cause instanceof AppError && cause.retryAfterSeconds !== undefined) {
      return rateLimitHeaders({ allowed: false, limit: cause.limit ?? 0, remaining: 0, resetSeconds: cause.retryAfterSeconds });
    }
  }
  return {};
}

/**
 * How many procedure calls a /trpc request makes: a batch (`/trpc/a,b,c?batch=1`) is one call per procedure, so
 * a batch of 50 spends 50, as 50 requests would. Capped at the batch limit, beyond which nothing runs.
 */
export function trpcCallCount(req: Request, maxBatchSize: number): number {
  const queryStart = req.url.indexOf('?');
  if (queryStart === -1 || new URLSearchParams(req.url.slice(queryStart + 1)).get('batch') !== '1') return 1;
  let path = req.path.slice(req.path.lastIndexOf('/') + 1);
  try {
    path = decodeURIComponent(path);
  } catch {
    return 1;
  }
  return Math.max(1, Math.min(path.split(',').length, maxBatchSize));
}

/** The per-IP budget for every request; `callsOf` says how many calls a request makes (one unless told). */
export function globalRateLimit(rateLimits: RateLimits, callsOf: (req: Request) => number = () => 1) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const result = await rateLimits.consume('global', rateLimits.ipKey(requestStateOf(res).ip), callsOf(req));
    const headers = rateLimitHeaders(result);
    for (const name in headers) res.setHeader(name, headers[name]);
    if (result.allowed) return next();
    sendError(req, res, 'TOO_MANY_REQUESTS', 'too many requests; slow down');
  };
}
