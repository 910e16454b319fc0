// The express application: hardening, health probes, tRPC at /trpc and REST at /api, in the order each request meets them.
import compression from 'compression';
import cors, { type CorsOptions } from 'cors';
import type { TRPCError } from '@trpc/server';
import express, { type Express, type Request } from 'express';
import helmet from 'helmet';
import type { ServerResponse } from 'node:http';
import type { Deps } from '../deps.ts';
import { AppError } from '../errors.ts';
import { docsRoutes } from '../rest/docs.ts';
import { createRestHandler } from '../rest/handler.ts';
import { openApiDocument } from '../rest/openapi.ts';
import { restOperations } from '../rest/operations.ts';
import { appRouter } from '../routers/index.ts';
import { createHttpContext, type Context } from '../trpc/context.ts';
import { createTrpcHandler } from '../trpc/http-handler.ts';
import { COMPRESSION_THRESHOLD } from './compress.ts';
import { consoleRoutes } from './console.ts';
import { errorHandler, sendError } from './errors.ts';
import { fixedHeaders, jsonBodiesOnly, requestContext, series, trustedHosts } from './middleware.ts';
import { opsRoutes, type Lifecycle } from './ops.ts';
import { eventLoopLag, shedLoad, sheddingThresholdMs } from './overload.ts';
import { queuesDashboard } from './queues-dashboard.ts';
import { errorRateLimitHeaders, globalRateLimit, trpcCallCount } from './rate-limit.ts';

export function createApp(deps: Deps, lifecycle: Lifecycle = { shuttingDown: false }): Express {
  const { config } = deps;
  const isProduction = config.NODE_ENV === 'production';
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', config.TRUST_PROXY);

  // Decided when the headers go out, so responses to requests in flight when the shutdown began close too: on this
  // app's response prototype, which every response goes through (wrapping each response's writeHead, as on-headers
  // does, cost a closure and a wrapper per request).
  const writeHead = Reflect.get(app.response, 'writeHead') as (this: ServerResponse, ...args: unknown[]) => ServerResponse;
  app.response.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    if (lifecycle.shuttingDown && !this.headersSent) this.setHeader('connection', 'close');
    return writeHead.apply(this, args);
  } as typeof app.response.writeHead;
  const corsOrigins = new Set(config.CORS_ORIGINS);
  // Only listed origins get CORS headers at all, credentials included; a request from any other origin, or
  // with none (servers, scripts), passes by untouched.
  const corsForListed = cors((req: Request, callback: (err: Error | null, options?: CorsOptions) => void) => {
    // The budget headers are readable by the page (the SDK's rateLimit()), as is the request id errors name.
    callback(null, { origin: req.headers.origin, credentials: true, maxAge: 600, exposedHeaders: ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'Retry-After', 'X-Request-Id'] });
  });
  const shedAtMs = sheddingThresholdMs(config.OVERLOAD_EVENT_LOOP_DELAY_MS, deps.queue.backend);
  // What every request meets first, in this order, as one layer (series).
  app.use(
    series(
      requestContext(deps.logger),
      // Probes and scrapers address the container by IP, not by a trusted host name: served before the host check.
      opsRoutes(deps, lifecycle),
      ...(config.TRUSTED_HOSTS.length > 0 ? [trustedHosts(config.TRUSTED_HOSTS)] : []),
      fixedHeaders(
        helmet({
          // An API serves no documents: nothing may load, frame or be framed.
          contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
          frameguard: { action: 'deny' },
          referrerPolicy: { policy: 'no-referrer' },
          strictTransportSecurity: isProduction ? { maxAge: 31_536_000, includeSubDomains: true } : false,
        }),
      ),
      (req, res, next) => {
        const origin = req.headers.origin;
        if (origin && corsOrigins.has(origin)) return corsForListed(req, res, next);
        next();
      },
      // After the probes (liveness must answer however busy the process is) and CORS (a browser must see the 503).
      ...(shedAtMs > 0 ? [shedLoad(eventLoopLag(), shedAtMs, deps.metrics.observeShed)] : []),
    ),
  );

  const createContext = createHttpContext(deps);
  const logFailure = ({ error, ctx, path }: { error: TRPCError; ctx: Context | undefined; path: string | undefined }) => {
    const log = ctx?.state.log ?? deps.logger;
    // An outage fails every request: one line each, without the stack, is enough to see it. (A SERVICE_UNAVAILABLE
    // without a cause is no outage: the live streams a shutdown ends.)
    if (error.code === 'SERVICE_UNAVAILABLE' && !(error.cause instanceof AppError && error.cause.cause === undefined)) log.warn({ path, reason: describeCause(error.cause) }, 'database unavailable');
    if (error.code !== 'INTERNAL_SERVER_ERROR') return;
    log.error({ err: error.cause ?? error, path }, 'procedure failed');
  };

  app.use(
    '/trpc',
    series(
      globalRateLimit(deps.rateLimits, (req) => trpcCallCount(req, config.TRPC_MAX_BATCH_SIZE)),
      jsonBodiesOnly(),
      // Read as text: tRPC parses it once itself; oversize bodies stop here with a 413.
      express.text({ type: 'application/json', limit: config.BODY_LIMIT }),
      createTrpcHandler({
        router: appRouter,
        createContext,
        maxBatchSize: config.TRPC_MAX_BATCH_SIZE,
        errorHeaders: errorRateLimitHeaders,
        onError: logFailure,
      }),
    ),
  );
  // The same procedures as plain JSON (a path it does not know goes on to the 404 below).
  const operations = restOperations(appRouter);
  app.use(
    '/api',
    series(
      globalRateLimit(deps.rateLimits),
      createRestHandler({ router: appRouter, operations, createContext, bodyLimit: config.BODY_LIMIT, errorHeaders: errorRateLimitHeaders, onError: logFailure }),
    ),
  );

  // Everything after /trpc and /api. Their handlers compress the answers they hold whole themselves (no stream, no
  // wrapping per response), and the middleware never compressed their streams: tRPC's and REST's events say
  // no-transform, and tRPC's jsonl batches are of a type it leaves alone.
  app.use(compression({ threshold: COMPRESSION_THRESHOLD }));

  // pg-boss's dashboard for admins (its own CSP; loaded on first use). /api/admin/queues is the REST API, above.
  app.use(queuesDashboard(deps));
  // The admin console: its page and assets (built on the first request), under a policy of its own.
  app.use(consoleRoutes(deps));
  // The document and the reference that describe the REST API. The document is built on its first request (it costs
  // tens of milliseconds of every start otherwise); server/rest/openapi.test.ts builds it from every procedure, so
  // one it cannot describe fails the tests.
  app.use(docsRoutes(() => openApiDocument(operations, deps.version)));

  app.use((req, res) => sendError(req, res, 'NOT_FOUND', `no route for ${req.method} ${req.path.slice(0, 200)}`));
  app.use(errorHandler());
  return app;
}

/** The driver's code or message behind a SERVICE_UNAVAILABLE (ECONNREFUSED, 57P01, "Connection terminated…"). */
function describeCause(error: unknown): string {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 6; depth++) {
    const { code, message, cause } = current as { code?: unknown; message?: unknown; cause?: unknown };
    if (!cause || typeof cause !== 'object') return typeof code === 'string' && code ? code : typeof message === 'string' ? message.slice(0, 200) : 'unknown';
    current = cause;
  }
  return 'unknown';
}
