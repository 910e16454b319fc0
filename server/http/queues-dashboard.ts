// /admin/queues: pg-boss's own dashboard for signed-in admins on Postgres, or a page saying why not on the embedded default.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Deps } from '../deps.ts';
import { createHttpContext } from '../trpc/context.ts';
import { sessionCookieName } from './cookies.ts';
import { sendError } from './errors.ts';
import { globalRateLimit } from './rate-limit.ts';

export const QUEUES_DASHBOARD_PATH = '/admin/queues';

/** React Router asks for `<path>.data` beside `<path>/…`: the mount owns both. */
const isDashboardPath = (path: string): boolean =>
  path === QUEUES_DASHBOARD_PATH || path === `${QUEUES_DASHBOARD_PATH}.data` || path.startsWith(`${QUEUES_DASHBOARD_PATH}/`);

/**
 * The dashboard's policy, on its path only. Its server-rendered pages carry inline scripts (React Router's
 * hydration data, React's streaming runtime) that change with every response: each gets this response's nonce
 * (see `withNonce`), so no inline script of anyone else's runs. Its markup has `style` attributes, hence
 * inline styles; its favicon and the stand-in for its web-font stylesheet are data: URLs. Everything else comes
 * from this origin.
 */
const dashboardPolicy = (nonce: string | null): string =>
  [
    "default-src 'none'",
    nonce ? `script-src 'self' 'nonce-${nonce}'` : "script-src 'self'",
    "style-src 'self' 'unsafe-inline' data:",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');

/**
 * The dashboard's root route links Google Fonts (two preconnects and a stylesheet). Each such URL becomes an empty
 * data: stylesheet, in the server-rendered page and in the client module that renders the same links, so React's
 * hydration still matches (it pairs `<link>`s by href: changing one side only makes it render the page again on
 * the client, Google's links included). The page falls back to system fonts and the browser asks nobody but us.
 */
const withoutFontService = (text: string): string => text.replace(/https:\/\/fonts\.(?:googleapis|gstatic)\.com[^"'`\s<>]*/g, 'data:text/css,');

/**
 * Adds the nonce to every script start tag. React escapes `<` in text and attributes and React Router in its
 * inline data, so a `<script` in the markup is always one the dashboard rendered, never one from job data.
 */
const withNonce = (html: string, nonce: string): string => html.replace(/<script(?=[\s>])/gi, `<script nonce="${nonce}"`);

const EMBEDDED_STYLE = 'body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;color:#1b1b1b}code{font-size:.9em}';
const EMBEDDED_POLICY = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(EMBEDDED_STYLE).digest('base64')}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const EMBEDDED_PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Job dashboard unavailable — ai-backend-service</title>
    <style>${EMBEDDED_STYLE}</style>
  </head>
  <body>
    <main>
      <h1>The job dashboard needs Postgres</h1>
      <p>This deployment keeps its jobs in the embedded queue (PGlite, in <code>./data/queue</code> by default), which only
      this process can open: pg-boss's dashboard connects to its database by URL and cannot reach it.</p>
      <p>Failed and dead-letter jobs can be retried and deleted on the admin console's <a href="/admin/jobs">Jobs page</a>.</p>
      <p>The same operations are in the admin job API: the <code>jobs.*</code> procedures, and over REST
      <code>GET /api/admin/queues</code> (queue depths), <code>GET /api/admin/queues/{queue}/jobs</code>, and retry, cancel and
      delete under the same path. See the <a href="/docs">API reference</a>.</p>
      <p>With <code>DATABASE_URL</code> (or <code>QUEUE_DATABASE_URL</code>) on a Postgres server, this page is pg-boss's dashboard.</p>
    </main>
  </body>
</html>
`;

/** Our session cookie and bearer token stay with us: the dashboard never needs them. */
function forwardedHeaders(req: Request, cookieName: string): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name === 'authorization' || name === 'host' || name === 'content-length') continue;
    if (name === 'cookie') {
      const rest = String(value)
        .split(';')
        .filter((part) => part.split('=', 1)[0].trim() !== cookieName)
        .join(';');
      if (rest.trim()) headers.set('cookie', rest);
      continue;
    }
    headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return headers;
}

/**
 * Signed-out → 401, a non-admin (or inactive account) → 403, a state-changing cookie request from an untrusted
 * origin → 403 (the same rule as every cookie request, checked here before the dashboard's own Origin check);
 * all of it before the dashboard is loaded or sees the request.
 */
export function queuesDashboard(deps: Deps) {
  const createContext = createHttpContext(deps);
  const cookieName = sessionCookieName(deps.config);
  // Form posts (retry, cancel, …) are small: read whole, within BODY_LIMIT, and handed over as bytes; only an
  // admin's body is read at all.
  const body = express.raw({ type: () => true, limit: deps.config.BODY_LIMIT });

  /** Who is asking, before a byte of the body is read. */
  async function admit(req: Request, res: Response, next: NextFunction): Promise<void> {
    const ctx = createContext({ req, res });
    const auth = await ctx.authenticate();
    if (!auth) return sendError(req, res, 'UNAUTHORIZED', 'sign in as an admin to see the job dashboard');
    if (ctx.credentials?.transport === 'cookie' && ctx.crossSite) {
      return sendError(req, res, 'FORBIDDEN', 'cross-site request refused: send a same-origin Origin header or use a bearer token');
    }
    if (!auth.user.isActive) return sendError(req, res, 'FORBIDDEN', 'account is inactive');
    ctx.state.userId = auth.user.id;
    if (auth.user.role !== 'admin') return sendError(req, res, 'FORBIDDEN', 'admin only');
    next();
  }

  async function serve(req: Request, res: Response): Promise<void> {
    const dashboard = deps.queue.dashboard(QUEUES_DASHBOARD_PATH);
    if (!dashboard) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(req, res, 'METHOD_NOT_SUPPORTED', 'the embedded queue has no dashboard');
      res.status(200).type('html').setHeader('content-security-policy', EMBEDDED_POLICY);
      res.setHeader('cache-control', 'no-store');
      res.send(EMBEDDED_PAGE);
      return;
    }

    const aborted = new AbortController();
    res.once('close', () => aborted.abort());
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    const request = new Request(`${req.protocol}://${req.get('host') ?? 'localhost'}${req.originalUrl}`, {
      method: req.method,
      headers: forwardedHeaders(req, cookieName),
      ...(hasBody && Buffer.isBuffer(req.body) ? { body: new Uint8Array(req.body) } : {}),
      signal: aborted.signal,
    });
    const response = await dashboard.fetch(request);

    const type = response.headers.get('content-type') ?? '';
    const isPage = type.startsWith('text/html');
    const nonce = isPage ? randomBytes(18).toString('base64') : null;
    res.status(response.status);
    for (const [name, value] of response.headers) {
      if (name === 'set-cookie' || name === 'content-length' || name === 'content-security-policy') continue;
      res.setHeader(name, value);
    }
    const cookies = response.headers.getSetCookie();
    if (cookies.length > 0) res.append('set-cookie', cookies);
    res.setHeader('content-security-policy', dashboardPolicy(nonce));
    if (nonce) {
      res.send(withNonce(withoutFontService(await response.text()), nonce));
    } else if (/javascript/.test(type) && req.method !== 'HEAD') {
      res.send(withoutFontService(await response.text()));
    } else if (response.body && req.method !== 'HEAD') {
      await pipeline(Readable.fromWeb(response.body), res);
    } else {
      res.end();
    }
  }

  const routes = express.Router();
  routes.use((req, _res, next) => (isDashboardPath(req.path) ? next() : next('router')));
  routes.use(globalRateLimit(deps.rateLimits), admit, body, async (req: Request, res: Response, next: NextFunction) => {
    await serve(req, res).catch((failure: unknown) => {
      // The client went away mid-response: nothing to report.
      if (!(res.destroyed && !res.writableFinished)) next(failure);
    });
  });
  return routes;
}
