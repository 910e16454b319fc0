// Small express middleware: request ids and the request log line, host allow-list, JSON-only mutations, fixed headers,
// and `series`, which runs several as one.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from '../logger.ts';
import { sendError } from './errors.ts';
import { createRequestState, requestStateOf, setRequestState } from './request-state.ts';

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Accepts a sane incoming X-Request-Id (else makes one), echoes it, and writes one log line per request:
 * method, path (never the query string, which can carry input), client ip, procedure, status, duration, user id.
 */
export function requestContext(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = performance.now();
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    res.setHeader('x-request-id', requestId);
    setRequestState(res, createRequestState(logger, requestId, req.ip));
    // At trace level, also when a request starts (what was in flight when something went wrong).
    if (logger.isLevelEnabled('trace')) logger.trace({ reqId: requestId, method: req.method, path: req.originalUrl.split('?', 1)[0] }, 'request received');
    // Probes hit every few seconds; they are logged only at debug level. Below the line's level, no line is made.
    const isProbe = req.originalUrl.startsWith('/health/');
    if (!logger.isLevelEnabled(isProbe ? 'debug' : 'info')) return next();
    res.once('finish', () => {
      const state = requestStateOf(res);
      const path = req.originalUrl.split('?', 1)[0];
      const line = {
        reqId: requestId,
        method: req.method,
        path,
        ip: state.ip,
        procedure: state.procedure ?? (path.startsWith('/trpc/') ? safeDecode(path.slice(6)) || undefined : undefined),
        status: res.statusCode,
        durationMs: Math.round((performance.now() - started) * 100) / 100,
        userId: state.userId,
      };
      if (isProbe) logger.debug(line, 'request');
      else logger.info(line, 'request');
    });
    next();
  };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** With TRUSTED_HOSTS set, any other Host header gets a 400 (blocks DNS rebinding and host-header tricks). */
export function trustedHosts(hosts: string[]) {
  const allowed = new Set(hosts.map((host) => host.toLowerCase()));
  return (req: Request, res: Response, next: NextFunction): void => {
    const host = (req.headers.host ?? '').toLowerCase();
    const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':', 1)[0];
    if (allowed.has(host) || allowed.has(name)) return next();
    sendError(req, res, 'BAD_REQUEST', 'host not allowed');
  };
}

/** Requests with a body must be JSON: tRPC would otherwise also accept form data and octet streams. */
export function jsonBodiesOnly() {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
    const type = (req.headers['content-type'] ?? '').split(';', 1)[0].trim().toLowerCase();
    if (type === 'application/json') return next();
    sendError(req, res, 'UNSUPPORTED_MEDIA_TYPE', 'requests with a body must have Content-Type: application/json');
  };
}

/**
 * The headers a middleware sets when they do not depend on the request (helmet's, with no nonces), worked out
 * once at start and set by one plain loop: helmet runs a dozen middleware functions per request otherwise.
 */
export function fixedHeaders(middleware: (req: Request, res: Response, next: (err?: unknown) => void) => void): RequestHandler {
  const headers: [string, string | number | readonly string[]][] = [];
  const removed: string[] = [];
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers.push([name.toLowerCase(), value]);
      return recorder;
    },
    removeHeader(name: string) {
      removed.push(name.toLowerCase());
    },
  };
  let done = false;
  middleware({} as Request, recorder as unknown as Response, (err) => {
    if (err) throw err instanceof Error ? err : new Error('fixedHeaders: the middleware failed', { cause: err });
    done = true;
  });
  if (!done) throw new Error('fixedHeaders: the middleware did not finish synchronously, so its headers are not fixed');
  return (_req, res, next) => {
    for (const name of removed) res.removeHeader(name);
    for (const [name, value] of headers) res.setHeader(name, value);
    next();
  };
}

/**
 * Several middleware run in order as one express layer, as `app.use(path, a, b, c)` would run them: an error passed
 * to `next`, thrown, or a rejected promise goes to express's error handling; the last one's `next()` goes on to the
 * app's next layer. Express's router matches the mount path again for each layer and rewrites `req.url` around each
 * (so its parsed form is made again): the router's own share of a `health.check` profile was 5.1 % with a layer per
 * middleware, 1.7 % with these runs.
 */
export function series(...handlers: RequestHandler[]): RequestHandler {
  return (req, res, done) => {
    let index = 0;
    const next = (err?: unknown): void => {
      if (err !== undefined && err !== null) return done(err);
      const handler = handlers[index++];
      if (!handler) return done();
      try {
        const result: unknown = handler(req, res, next);
        if (result instanceof Promise) result.catch((error: unknown) => done(error ?? new Error('Rejected promise')));
      } catch (error) {
        done(error);
      }
    };
    next();
  };
}
