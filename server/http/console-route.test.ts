// /admin over plain HTTP: loaded on its first request only; one data-free page under a strict policy for every console path; hashed assets.
import { describe, expect, it } from 'vitest';
import { signedInUser } from '../testing/factories.ts';
import { dialects, useTestServer } from '../testing/harness.ts';
import { CONSOLE_POLICY } from './console.ts';

/** What server/console/build.ts sets when it loads (it imports esbuild when it has to build). */
const buildLoaded = () => (globalThis as Record<symbol, unknown>)[Symbol.for('ai-backend-service.console.build')] === true;
/** Modules stay loaded for the file's process: the first dialect's block sees the server before any /admin request. */
let consoleRequested = false;

describe.each(dialects)('/admin over HTTP on %s', (dialect) => {
  const app = useTestServer(dialect);
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${app.url}${path}`, { headers, redirect: 'manual' });

  it('loads nothing of the console until /admin is asked for, then serves one page with no data under its own policy', async () => {
    for (const path of ['/health/ready', '/api/health', '/admin/queues', '/docs']) await (await get(path)).body?.cancel();
    if (!consoleRequested) expect(buildLoaded()).toBe(false);
    consoleRequested = true;

    const { token } = await signedInUser(app.deps, { role: 'admin' });
    const pages = await Promise.all(['/admin', '/admin/', '/admin/users', '/admin/jobs?queue=tasks.run', '/admin/no/such/page'].map((path) => get(path)));
    expect(buildLoaded()).toBe(true);
    const bodies = await Promise.all(pages.map((page) => page.text()));
    for (const page of pages) {
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(page.headers.get('content-security-policy')).toBe(CONSOLE_POLICY);
      expect(page.headers.get('cache-control')).toBe('no-store');
    }
    expect(new Set(bodies).size).toBe(1);
    const html = bodies[0];
    expect(CONSOLE_POLICY).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    // No inline script or style, no style attribute, nothing from another origin.
    expect(html).not.toMatch(/<style|\sstyle=/i);
    for (const [tag] of html.matchAll(/<script\b[^>]*>/gi)) expect(tag).toMatch(/\ssrc="\/admin\/assets\/[^"]+\.js"/);
    expect(html).not.toMatch(/(href|src)="(https?:)?\/\//i);
    expect(html).toContain('<meta name="console-session" content="absent" />');
    expect(await (await get('/admin', { cookie: `session=${token}` })).text()).toContain('<meta name="console-session" content="present" />');

    const [, script] = /src="(\/admin\/assets\/[^"]+\.js)"/.exec(html) ?? [];
    const [, style] = /href="(\/admin\/assets\/[^"]+\.css)"/.exec(html) ?? [];
    for (const [path, type] of [
      [script, /^text\/javascript/],
      [style, /^text\/css/],
    ] as const) {
      const asset = await get(path);
      expect(asset.status).toBe(200);
      expect(asset.headers.get('content-type')).toMatch(type);
      expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect((await asset.text()).length).toBeGreaterThan(100);
    }
    expect((await get('/admin/assets/main-NOSUCHFILE.js')).status).toBe(404);
  });

  it('leaves other methods and /admin/queues alone', async () => {
    const post = await fetch(`${app.url}/admin`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(post.status).toBe(404);
    const queues = await get('/admin/queues');
    expect(queues.status).toBe(401);
    expect(queues.headers.get('content-security-policy')).not.toBe(CONSOLE_POLICY);
  });
});
