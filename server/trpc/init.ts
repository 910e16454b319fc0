// initTRPC, once: the builders every router uses. Procedures are public, authed, session-only or admin.
import { performance } from 'node:perf_hooks';
import { SpanStatusCode } from '@opentelemetry/api';
import { initTRPC } from '@trpc/server';
import superjson from 'superjson';
import { AppError } from '../errors.ts';
import type { LimitName } from '../rate-limits.ts';
import { tracer, tracingEnabled } from '../telemetry/state.ts';
import type { Context } from './context.ts';
import { formatError, toClientError } from './errors.ts';
import { inputTransformer, refuseBadText } from './input-guard.ts';
import type { Meta } from './meta.ts';

export const SSE_PING_MS = 15_000;

const t = initTRPC.context<Context>().meta<Meta>().create({
  // superjson both ways; input is checked for metadata our clients never send before it is decoded.
  transformer: { input: inputTransformer, output: superjson },
  // Stacks go to the log, never into responses, in every environment.
  isDev: false,
  errorFormatter: ({ shape, error, ctx }) => formatError({ shape, error, requestId: ctx?.state.requestId }),
  // Subscriptions over SSE: a ping comment every 15 s keeps proxies that cut idle connections after 60 s (ALB,
  // Cloud Run) from cutting them, and a client that hears nothing (not even a ping) for 45 s reconnects.
  sse: { ping: { enabled: true, intervalMs: SSE_PING_MS }, client: { reconnectAfterInactivityMs: 45_000 } },
});

export const router = t.router;
export const middleware = t.middleware;
export const createCallerFactory = t.createCallerFactory;

/**
 * The edge of every procedure, in one middleware (each level of tRPC middleware costs an object spread):
 * converts domain errors thrown below it into tRPC errors, so callers and HTTP see the right code; times the
 * call into the latency histogram (path, type, result code); and, with tracing on, wraps it in a
 * `trpc <path>` span, one per call, batched calls included.
 */
const boundary = t.middleware(async ({ ctx, path, type, next, getRawInput }) => {
  const started = performance.now();
  const settle = async () => {
    const raw = await next({ getRawInput: () => getRawInput().then(refuseBadText) });
    const result = raw.ok ? raw : { ...raw, error: toClientError(raw.error) };
    ctx.deps.metrics.observeProcedure(path, type, result.ok ? 'OK' : result.error.code, (performance.now() - started) / 1000);
    return result;
  };
  if (!tracingEnabled()) return settle();
  return tracer().startActiveSpan(`trpc ${path}`, { attributes: { 'rpc.system': 'trpc', 'rpc.method': path, 'trpc.type': type } }, async (span) => {
    try {
      const result = await settle();
      if (!result.ok) {
        span.setAttribute('trpc.error_code', result.error.code);
        // Client mistakes are the caller's; only server-side failures mark the span as an error.
        if (result.error.code === 'INTERNAL_SERVER_ERROR') span.setStatus({ code: SpanStatusCode.ERROR });
      }
      return result;
    } finally {
      span.end();
    }
  });
});

export const publicProcedure = t.procedure.use(boundary).meta({ access: 'public' });

/** Spends one unit of a named per-IP rate limit; over it → TOO_MANY_REQUESTS with Retry-After. */
export const rateLimit = (name: LimitName) =>
  t.middleware(async ({ ctx, next }) => {
    const result = await ctx.deps.rateLimits.consume(name, ctx.deps.rateLimits.ipKey(ctx.ip));
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
}).meta({ access: 'user' });

/** Managing passwords, sessions and API tokens takes a session: an API token cannot do it. */
export const sessionProcedure = authedProcedure.use(async ({ ctx, next }) => {
  if (ctx.auth.kind !== 'session') throw new AppError('FORBIDDEN', 'API tokens cannot manage passwords, sessions or API tokens');
  return next({ ctx: { session: ctx.auth.session } });
}).meta({ access: 'session' });

export const adminProcedure = authedProcedure.use(async ({ ctx, next }) => {
  if (ctx.user.role !== 'admin') throw new AppError('FORBIDDEN', 'admin only');
  return next();
}).meta({ access: 'admin' });

/**
 * Subscriptions are GET requests, which the CSRF check lets through: a session cookie opens one only from our own
 * origin or a CORS_ORIGINS one (a browser's cross-origin EventSource says where it comes from in `Origin`).
 */
const sameOriginStream = t.middleware(({ ctx, next }) => {
  if (ctx.credentials?.transport === 'cookie' && ctx.foreignOrigin) {
    throw new AppError('FORBIDDEN', 'cross-site subscription refused: open it from an allowed origin (CORS_ORIGINS) or use a bearer token');
  }
  return next();
});

export const authedStreamProcedure = authedProcedure.use(sameOriginStream);
export const adminStreamProcedure = adminProcedure.use(sameOriginStream);
