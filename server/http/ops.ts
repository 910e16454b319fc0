// Operations endpoints every process serves the same way: liveness, readiness and Prometheus metrics.
import express, { type Express, type Request, type RequestHandler, type Response } from 'express';
import type { Deps } from '../deps.ts';
import { createReadinessCheck } from '../services/health.ts';
import { errorHandler, sendError } from './errors.ts';
import { requestContext } from './middleware.ts';

/** Flipped by the shutdown path: readiness turns 503 and responses ask clients to close their connection. */
export type Lifecycle = { shuttingDown: boolean };

/**
 * `/health/live` (the process answers), `/health/ready` (database reachable, migrations current, not shutting
 * down; a job outbox backlog older than a minute is logged, not made a failure) and `/metrics` (Prometheus text, for a bearer of METRICS_TOKEN; 404 while no token is configured).
 */
export function opsRoutes(deps: Pick<Deps, 'db' | 'metrics' | 'config' | 'queue' | 'logger'>, lifecycle: Lifecycle): RequestHandler {
  const readiness = createReadinessCheck(deps);
  const routes = new Map<string, (req: Request, res: Response) => void | Promise<void>>();
  routes.set('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });
  routes.set('/health/ready', async (_req, res) => {
    const result = lifecycle.shuttingDown ? { ready: false as const, reason: 'shutting down' } : await readiness();
    res.status(result.ready ? 200 : 503).json(result.ready ? { status: 'ok' } : { status: 'unavailable', reason: result.reason });
  });
  if (deps.config.METRICS_TOKEN) {
    routes.set('/metrics', async (req, res) => {
      if (!deps.metrics.authorized(req.headers.authorization)) {
        res.setHeader('www-authenticate', 'Bearer realm="metrics"');
        return sendError(req, res, 'UNAUTHORIZED', 'metrics need the bearer token configured in METRICS_TOKEN');
      }
      const body = await deps.metrics.registry.metrics();
      res.setHeader('cache-control', 'no-store');
      res.type(deps.metrics.registry.contentType).send(body);
    });
  }
  // Matched as an express Router matches `router.get(path)` (GET and HEAD, any case, one trailing slash), by a map
  // lookup: every API request passes here first, and a Router walks its routes' regular expressions for each.
  return (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const path = req.path;
    if (path.length < 8 || path.length > 15) return next();
    const route = routes.get((path.endsWith('/') ? path.slice(0, -1) : path).toLowerCase());
    if (!route) return next();
    Promise.resolve(route(req, res)).catch(next);
  };
}

/** A worker's whole HTTP surface: the ops routes, nothing else (its port need not be public). */
export function createOpsApp(deps: Pick<Deps, 'db' | 'metrics' | 'config' | 'logger' | 'queue'>, lifecycle: Lifecycle): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(requestContext(deps.logger));
  app.use(opsRoutes(deps, lifecycle));
  app.use((req, res) => sendError(req, res, 'NOT_FOUND', `no route for ${req.method} ${req.path.slice(0, 200)}`));
  app.use(errorHandler());
  return app;
}
