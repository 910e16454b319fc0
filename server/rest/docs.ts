// /openapi.json and /docs: the document, and an interactive reference (Swagger UI) served entirely from our own
// origin, so it works offline and under a CSP that allows no inline or third-party script.
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import express, { type Router } from 'express';
import type { OpenApiDocument } from './openapi.ts';

const assets = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const ASSET_FILES = new Set(['swagger-ui-bundle.js', 'swagger-ui.css', 'favicon-16x16.png', 'favicon-32x32.png']);

/**
 * The docs page's own policy (the rest of the app allows nothing): scripts and styles from this origin only, plus
 * the inline style attributes Swagger UI renders; requests ("Try it out") to this origin only.
 */
const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const PAGE = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>ai-backend-service REST API</title>
    <link rel="stylesheet" href="/docs/assets/swagger-ui.css" />
    <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" sizes="32x32" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/assets/swagger-ui-bundle.js"></script>
    <script src="/docs/init.js"></script>
  </body>
</html>
`;

// No validator badge: it would send the document to validator.swagger.io.
const INIT = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  tryItOutEnabled: true,
  displayOperationId: true,
});
`;

/** `document` is built on the first request for it, once: most processes never serve it. */
export function docsRoutes(document: () => OpenApiDocument): Router {
  const routes = express.Router();
  let json: string | undefined;
  routes.get('/openapi.json', (_req, res) => {
    json ??= JSON.stringify(document());
    res.type('application/json').setHeader('cache-control', 'no-cache');
    res.send(json);
  });
  routes.use('/docs', (_req, res, next) => {
    res.setHeader('content-security-policy', DOCS_CSP);
    next();
  });
  routes.get('/docs', (_req, res) => {
    res.type('html').setHeader('cache-control', 'no-cache');
    res.send(PAGE);
  });
  routes.get('/docs/init.js', (_req, res) => {
    res.type('text/javascript').setHeader('cache-control', 'no-cache');
    res.send(INIT);
  });
  routes.use('/docs/assets', (req, _res, next) => (ASSET_FILES.has(req.path.slice(1)) ? next() : next('router')));
  routes.use('/docs/assets', express.static(assets, { index: false, maxAge: '1d', fallthrough: false }));
  return routes;
}
