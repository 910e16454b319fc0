// initTRPC, once: the builders every router uses. Procedures are public, authed, session-only or admin.
import { initTRPC } from '@trpc/server';
import superjson from 'superjson';
import { AppError } from '../errors.ts';
import type { LimitName } from '../rate-limits.ts';
import type { Context } from './context.ts';
import { formatError, toClientError } from './errors.ts';

const t = initTRPC.context<Context>().create({
  transformer: superjson,
  // Stacks go to the log, never into responses, in every environment.
  isDev: false,
  errorFormatter: ({ shape, error, ctx }) => formatError({ shape, error, requestId: ctx?.state.requestId }),
});

export const router = t.router;
export const middleware = t.middleware;
export const createCallerFactory = t.createCallerFactory;

/** Converts domain errors thrown below it into tRPC errors, so callers and HTTP see the right code. */
const domainErrors = t.middleware(async ({ next }) => {
  const result = await next();
  return result.ok ? result : { ...result, error: toClientError(result.error) };
});

export const publicProcedure = t.procedure.use(domainErrors);

/** Spends one unit of a named per-IP rate limit; over it → TOO_MANY_REQUESTS with Retry-After. */
export const rateLimit = (name: LimitName) =>
  t.middleware(async ({ ctx, next }) => {
    const result = await ctx.deps.rateLimits.consume(name, ctx.ip ?? 'unknown');
    if (!result.allowed) {
      throw new AppError('TOO_MANY_REQUESTS', 'too many requests; try again later', {
        retryAfterSeconds: result.resetSeconds,
        limit: result.limit,
      });
    }
    return next();
  });

/** A valid session or API token of an active user; `ctx.auth` and `ctx.user` are set. */
export const authedProcedure = publicProcedure.use(async ({ ctx, next }) => {
  const auth = await ctx.authenticate();
  if (!auth) throw new AppError('UNAUTHORIZED', 'not authenticated');
  if (ctx.credentials?.transport === 'cookie' && ctx.crossSite) {
    throw new AppError('FORBIDDEN', 'cross-site request refused: send a same-origin Origin header or use a bearer token');
  }
  if (!auth.user.isActive) throw new AppError('FORBIDDEN', 'account is inactive');
  ctx.state.userId = auth.user.id;
  return next({ ctx: { auth, user: auth.user } });
});

/** Managing passwords, sessions and API tokens takes a session: an API token cannot do it. */
export const sessionProcedure = authedProcedure.use(async ({ ctx, next }) => {
  if (ctx.auth.kind !== 'session') throw new AppError('FORBIDDEN', 'API tokens cannot manage passwords, sessions or API tokens');
  return next({ ctx: { session: ctx.auth.session } });
});

export const adminProcedure = authedProcedure.use(async ({ ctx, next }) => {
  if (ctx.user.role !== 'admin') throw new AppError('FORBIDDEN', 'admin only');
  return next();
});
