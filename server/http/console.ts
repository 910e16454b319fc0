// /admin: the admin console's page and assets, from this origin under a policy that allows only its own files; built on first request.
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Deps } from '../deps.ts';
import type { BuildOutcome, ConsoleBundle } from '../console/build.ts';
import { readCookie, sessionCookieName } from './cookies.ts';
import { QUEUES_DASHBOARD_PATH } from './queues-dashboard.ts';

export const CONSOLE_PATH = '/admin';
const ASSETS = `${CONSOLE_PATH}/assets/`;

/**
 * Scripts and styles only from this origin (no inline script, no style attribute; styles set from script go
 * through the CSSOM), calls only to this origin, nothing framed or framing.
 */
export const CONSOLE_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const escapeAttribute = (text: string): string => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/** The one page every console path answers with: the script routes by the path. It holds no data. */
const page = (bundle: ConsoleBundle, hasSessionCookie: boolean): string => `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Admin console — ai-backend-service</title>
    <link rel="icon" href="data:," />
    <meta name="console-session" content="${hasSessionCookie ? 'present' : 'absent'}" />
    <link rel="stylesheet" href="${ASSETS}${escapeAttribute(bundle.manifest.style)}" />
    <script type="module" src="${ASSETS}${escapeAttribute(bundle.manifest.script)}"></script>
  </head>
  <body>
    <div id="app"><noscript>The admin console needs JavaScript.</noscript></div>
  </body>
</html>
`;

const UNAVAILABLE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8" /><title>Admin console unavailable</title></head>
<body><main><h1>The admin console is not built</h1><p>This installation has neither a built console (build/console) nor esbuild to build it: run <code>npm install</code> in a checkout, or use the container image, which ships it built.</p></main></body></html>
`;

const isConsolePath = (path: string): boolean =>
  (path === CONSOLE_PATH || path.startsWith(`${CONSOLE_PATH}/`)) &&
  path !== QUEUES_DASHBOARD_PATH &&
  !path.startsWith(`${QUEUES_DASHBOARD_PATH}/`) &&
  !path.startsWith(`${QUEUES_DASHBOARD_PATH}.`);

export function consoleRoutes(deps: Deps) {
  const log = deps.logger.child({ component: 'console' });
  const cookieName = sessionCookieName(deps.config);
  // Development re-checks the sources on every page load (an edit shows on reload); elsewhere once per process.
  const recheck = deps.config.NODE_ENV === 'development';
  let loading: Promise<BuildOutcome | null> | null = null;

  function bundle(fresh: boolean): Promise<BuildOutcome | null> {
    if (loading && !fresh) return loading;
    const previous = loading;
    const next = (async () => {
      await previous?.catch(() => null);
      // Loaded on the first console request: esbuild and the build code cost the API nothing until then.
      const { loadConsole } = await import('../console/build.ts');
      const outcome = await loadConsole();
      if (outcome?.built) {
        const { script, gzippedScriptBytes } = outcome.bundle.manifest;
        log.info({ script, gzippedKiB: Math.round(gzippedScriptBytes / 102.4) / 10 }, 'admin console built');
      }
      if (!outcome) log.warn('admin console not built and esbuild not installed: /admin is unavailable');
      return outcome;
    })();
    // A failed build is tried again by the next request.
    next.catch(() => {
      if (loading === next) loading = null;
    });
    loading = next;
    return next;
  }

  const routes = express.Router();
  routes.use((req, _res, next) => (isConsolePath(req.path) && (req.method === 'GET' || req.method === 'HEAD') ? next() : next('router')));
  routes.use(async (req: Request, res: Response, next: NextFunction) => {
    try {
      const isAsset = req.path.startsWith(ASSETS);
      const outcome = await bundle(recheck && !isAsset);
      res.setHeader('content-security-policy', CONSOLE_POLICY);
      if (!outcome) {
        res.status(503).type('html').setHeader('cache-control', 'no-store');
        res.send(UNAVAILABLE);
        return;
      }
      if (isAsset) {
        const asset = outcome.bundle.assets.get(req.path.slice(ASSETS.length));
        if (!asset) return next('router');
        // Hashed names: a file never changes under its name.
        res.status(200).type(asset.type).setHeader('cache-control', 'public, max-age=31536000, immutable');
        res.send(asset.body);
        return;
      }
      res.status(200).type('html').setHeader('cache-control', 'no-store');
      // Whether to ask who is signed in, or show the sign-in form at once (asking would log a 401 in the console).
      res.send(page(outcome.bundle, readCookie(req, cookieName) !== null));
    } catch (error) {
      next(error);
    }
  });
  return routes;
}
