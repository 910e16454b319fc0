// /admin/queues over real HTTP: pg-boss's dashboard for admins when the jobs are on Postgres, a plain page on PGlite.
import { describe, expect, it } from 'vitest';
import { welcomeEmailJob } from '../../jobs/definitions/welcome-email.ts';
import { createUser, signedInUser } from '../testing/factories.ts';
import { dialects, useTestServer } from '../testing/harness.ts';

const cookie = (token: string) => ({ cookie: `session=${token}` });
/** What @pg-boss/dashboard's handler sets on globalThis when it loads its server (build/handler.js). */
const dashboardLoaded = () => (globalThis as Record<symbol, unknown>)[Symbol.for('pgboss.dashboard.embedded')] === true;

describe.each(dialects)('/admin/queues on %s', (dialect) => {
  const app = useTestServer(dialect);
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${app.url}${path}`, { headers, redirect: 'manual' });

  it('answers 401 to a visitor who is not signed in, and 403 to a signed-in user who is not an admin', async () => {
    for (const path of ['/admin/queues', '/admin/queues.data', '/admin/queues/queues', '/admin/queues/assets/nothing.js']) {
      const signedOut = await get(path);
      expect(signedOut.status).toBe(401);
      expect(await signedOut.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    }
    const { token } = await signedInUser(app.deps);
    for (const headers of [cookie(token), { authorization: `Bearer ${token}` }]) {
      const response = await get('/admin/queues', headers);
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ error: { code: 'FORBIDDEN', message: 'admin only' } });
    }
    const inactiveAdmin = await signedInUser(app.deps, { role: 'admin', isActive: false });
    expect((await get('/admin/queues', cookie(inactiveAdmin.token))).status).toBe(403);
    // Refused visitors never make the process load the dashboard.
    expect(dashboardLoaded()).toBe(false);
  });

  it('leaves the REST job operations at /api/admin/queues to the REST API', async () => {
    const { token } = await signedInUser(app.deps, { role: 'admin' });
    const response = await get('/api/admin/queues', { authorization: `Bearer ${token}` });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const body = JSON.stringify(await response.json());
    for (const name of app.deps.queue.names) expect(body).toContain(name);
  });

  it("shows an admin pg-boss's dashboard with our queues on Postgres, and says why there is none on the embedded queue", async () => {
    const { token } = await signedInUser(app.deps, { role: 'admin' });
    // Its server (React Router build, its own pg-boss, its pools) was not loaded at start: the first admin's request
    // loads it, on Postgres only.
    expect(dashboardLoaded()).toBe(false);
    const page = await get('/admin/queues/queues', cookie(token));
    expect(dashboardLoaded()).toBe(app.deps.queue.backend === 'postgres');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const policy = page.headers.get('content-security-policy') ?? '';
    expect(policy).not.toMatch(/unsafe-eval/);
    expect(policy).toMatch(/frame-ancestors 'none'/);
    const html = await page.text();
    // Nothing from another origin: no CDN, no font service, not even a preconnect.
    expect(html).not.toMatch(/<(link|script|img)\b[^>]*\b(href|src)="(https?:)?\/\//i);

    if (app.deps.queue.backend === 'pglite') {
      // The embedded default: our own small page, which allows no script and no inline style but its own.
      expect(policy).not.toMatch(/unsafe-inline/);
      expect(policy).toMatch(/^default-src 'none'/);
      expect(policy).not.toMatch(/script-src/);
      expect(html).toContain('The job dashboard needs Postgres');
      expect(html).toContain('/api/admin/queues');
      expect(html).not.toMatch(/<script/i);
      expect((await get('/admin/queues', cookie(token))).status).toBe(200);
      const post = await fetch(`${app.url}/admin/queues`, { method: 'POST', headers: { ...cookie(token), origin: app.url } });
      expect(post.status).toBe(405);
      return;
    }

    // pg-boss's dashboard, rendered on the server: every queue of ours is listed.
    for (const name of app.deps.queue.names) expect(html).toContain(name);
    // Its inline scripts run by this response's nonce, not by 'unsafe-inline'.
    const nonce = /script-src 'self' 'nonce-([A-Za-z0-9+/=]+)'/.exec(policy)?.[1];
    expect(nonce).toBeTruthy();
    expect(policy).not.toMatch(/script-src[^;]*unsafe-inline/);
    const scripts = html.match(/<script\b[^>]*>/gi) ?? [];
    expect(scripts.length).toBeGreaterThan(0);
    for (const tag of scripts) expect(tag).toContain(`nonce="${nonce}"`);
    // The rest of the app keeps its strict policy.
    expect((await get('/health/live')).headers.get('content-security-policy') ?? '').not.toContain('nonce');
    expect((await get('/openapi.json')).headers.get('content-security-policy')).toBe("default-src 'none';frame-ancestors 'none'");

    // Its data requests (client-side navigation) and its assets, behind the same check.
    const data = await get('/admin/queues/queues.data', cookie(token));
    expect(data.status).toBe(200);
    const dataText = await data.text();
    for (const name of app.deps.queue.names) expect(dataText).toContain(name);
    // Its modules render the same links as the page (hydration matches), none to a font service or any other origin.
    const modules = [...html.matchAll(/href="(\/admin\/queues\/assets\/[^"]+\.js)"/g)].map((match) => match[1]);
    expect(modules.length).toBeGreaterThan(0);
    for (const path of modules) {
      const script = await get(path, cookie(token));
      expect(script.status).toBe(200);
      expect(script.headers.get('content-type')).toMatch(/javascript/);
      expect(await script.text(), path).not.toMatch(/https:\/\/fonts\./);
    }
    expect(html).not.toMatch(/fonts\.(googleapis|gstatic)/);
    // Our credentials never reach the dashboard's markup.
    expect(html).not.toContain(token);
  });

  it('holds state-changing dashboard requests to the CSRF rule of every cookie request, and the dashboard is read-only', async () => {
    const { token } = await signedInUser(app.deps, { role: 'admin' });
    const user = await createUser(app.deps);
    const jobId = await app.deps.queue.send(welcomeEmailJob, { userId: user.id });
    const stateOf = async () => (await app.deps.queue.find(welcomeEmailJob, { userId: user.id })).find((job) => job.id === jobId)?.state;
    expect(await stateOf()).toBe('created');
    const cancel = (headers: Record<string, string>) =>
      fetch(`${app.url}/admin/queues/queues/${welcomeEmailJob.name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams({ intent: 'cancel', jobId }).toString(),
        redirect: 'manual',
      });

    // A cookie from another site's form (or with no Origin at all) is refused before the dashboard sees it.
    for (const headers of [{ ...cookie(token), origin: 'https://evil.example' }, cookie(token), { ...cookie(token), origin: 'null' }]) {
      const refused = await cancel(headers);
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ error: { code: 'FORBIDDEN', message: expect.stringMatching(/^cross-site request refused/) } });
    }
    // A non-admin from our own origin is refused too.
    const other = await signedInUser(app.deps);
    expect(await (await cancel({ ...cookie(other.token), origin: app.url })).json()).toMatchObject({ error: { code: 'FORBIDDEN', message: 'admin only' } });

    // An admin from our own origin (or with a bearer token) passes our checks; what answers then is the dashboard
    // (read-only: its pg-boss is older than our schema) or, on the embedded queue, our page (405).
    const admitted: Record<string, string>[] = [{ ...cookie(token), origin: app.url }, { authorization: `Bearer ${token}` }];
    for (const headers of admitted) {
      const passed = await cancel(headers);
      if (app.deps.queue.backend === 'pglite') {
        expect(passed.status).toBe(405);
      } else {
        expect(passed.status).toBe(403);
        expect(passed.headers.get('content-type')).toMatch(/^text\/plain/);
        expect(await passed.text()).toMatch(/read-only/);
      }
    }
    expect(await stateOf()).toBe('created');

    // An admin's body is read within BODY_LIMIT, as everywhere; a signed-out visitor's is not read at all.
    const oversized = 'x'.repeat(app.deps.config.BODY_LIMIT + 1);
    const tooLarge = await fetch(`${app.url}/admin/queues/queues/${welcomeEmailJob.name}`, { method: 'POST', headers: { ...cookie(token), origin: app.url }, body: oversized });
    expect(tooLarge.status).toBe(413);
    const signedOut = await fetch(`${app.url}/admin/queues/queues/${welcomeEmailJob.name}`, { method: 'POST', headers: { origin: app.url }, body: oversized });
    expect(signedOut.status).toBe(401);
  });
});
