// The SDK in a real browser (Debian's chromium, driven by playwright-core; no downloaded browser builds), on
// both dialects: a dashboard page on a second origin loads the SDK built for browsers, signs in by cookie,
// submits a task and gets its completion through tasks.onChange; a logout ends its stream; a page on an origin
// that is not in CORS_ORIGINS is refused (CORS in the browser, the origin check on the server).
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDeps, type Deps } from '../server/deps.ts';
import { eq } from 'drizzle-orm';
import { captureLogs, createTestDeps, dialects, startTestServer, type TestServer } from '../server/testing/harness.ts';
import { createUser } from '../server/testing/factories.ts';

/** Debian's chromium (.ci/run installs it when missing). */
const CHROMIUM = process.env.CHROMIUM_PATH ?? execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim();

/**
 * The dashboard's code (a module of the page, next to the SDK bundle): each function runs one scenario and
 * resolves with what the page saw.
 */
const PAGE_SCRIPT = `import { createClient, isApiError } from '/sdk.js';

const codeOf = (error) => (isApiError(error) ? error.data.code : String(error && error.name));

window.submitAndWatch = async (apiUrl, usernameOrEmail, password) => {
  const api = createClient({ url: apiUrl, credentials: 'include' });
  await api.auth.login.mutate({ usernameOrEmail, password });
  const me = await api.auth.me.query();
  const { id } = await api.tasks.submit.mutate({ type: 'math.sum', input: { numbers: [1, 2, 3] } });
  return new Promise((resolve, reject) => {
    const events = [];
    const subscription = api.tasks.onChange.subscribe({ taskId: id }, {
      onData: ({ id: eventId, data }) => events.push({ eventId, status: data.status, sum: data.result ? data.result.sum : null, finishedIsDate: data.finishedAt === null || data.finishedAt instanceof Date }),
      onError: (error) => reject(new Error('subscription failed: ' + codeOf(error))),
      onComplete: () => {
        subscription.unsubscribe();
        resolve({ me: me.username, id, events });
      },
    });
  });
};

window.watchThenLogout = (apiUrl) => {
  const api = createClient({ url: apiUrl, credentials: 'include' });
  return new Promise((resolve) => {
    let opened = false;
    api.tasks.onChange.subscribe({}, {
      onStarted: () => {
        if (opened) return;
        opened = true;
        window.logoutNow = () => api.auth.logout.mutate();
      },
      onError: (error) => resolve(codeOf(error)),
      onComplete: () => resolve('completed'),
    });
  });
};

window.tryFromHere = async (apiUrl) => {
  const api = createClient({ url: apiUrl, credentials: 'include' });
  const outcome = {};
  try {
    await api.tasks.submit.mutate({ type: 'math.sum', input: { numbers: [1] } });
    outcome.submit = 'succeeded';
  } catch (error) {
    outcome.submit = codeOf(error);
  }
  outcome.stream = await new Promise((resolve) => {
    const source = new EventSource(apiUrl + '/api/tasks/events', { withCredentials: true });
    source.onmessage = () => {
      source.close();
      resolve('message');
    };
    source.onerror = () => {
      source.close();
      resolve('refused');
    };
  });
  return outcome;
};
`;

/** A static server for the pages: its own origin, serving the page, its script and the SDK bundle. */
async function pageServer(sdk: string): Promise<{ server: Server; origin: string }> {
  const files: Record<string, [string, string]> = {
    '/': ['text/html; charset=utf-8', '<!doctype html><meta charset="utf-8"><title>dashboard</title><script type="module" src="/app.js"></script>'],
    '/app.js': ['text/javascript; charset=utf-8', PAGE_SCRIPT],
    '/sdk.js': ['text/javascript; charset=utf-8', sdk],
  };
  const server = createServer((req, res) => {
    const file = files[req.url ?? ''];
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': file[0] }).end(file[1]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe.each(dialects)('the SDK in Chromium on %s', (dialect) => {
  let browser: Browser;
  let deps: Deps;
  let api: TestServer;
  let dashboard: { server: Server; origin: string };
  let foreign: { server: Server; origin: string };
  const logs = captureLogs('info');

  beforeAll(async () => {
    // The SDK as a browser gets it: one ES module, browser platform (the eventsource package included).
    const bundle = await build({ entryPoints: [join(import.meta.dirname, 'src', 'index.ts')], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, logLevel: 'silent' });
    const sdk = bundle.outputFiles[0].text;
    [dashboard, foreign] = await Promise.all([pageServer(sdk), pageServer(sdk)]);
    deps = await createTestDeps(dialect, { worker: true, logger: logs.logger, env: { CORS_ORIGINS: dashboard.origin, LIVE_SESSION_CHECK_SECONDS: '1' } });
    await deps.queue.work(deps);
    api = await startTestServer(deps);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
  });

  afterAll(async () => {
    await browser?.close();
    await api?.close();
    if (deps) await closeDeps(deps);
    for (const page of [dashboard, foreign]) page?.server.close();
  });

  async function open(origin: string) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => 'submitAndWatch' in globalThis);
    return { context, page };
  }

  it('signs in by cookie from the dashboard’s origin, submits a task and receives its completion', async () => {
    const user = await createUser(deps);
    const { context, page } = await open(dashboard.origin);
    try {
      const result = (await page.evaluate(([url, name, password]) => (globalThis as unknown as { submitAndWatch: (...args: string[]) => Promise<unknown> }).submitAndWatch(url, name, password), [api.url, user.username, user.password])) as {
        me: string;
        id: string;
        events: { eventId: string; status: string; sum: number | null; finishedIsDate: boolean }[];
      };
      expect(result.me).toBe(user.username);
      expect(result.events.at(-1)).toMatchObject({ status: 'completed', sum: 6, finishedIsDate: true });
      expect(result.events.every((event) => event.eventId.endsWith(`:${result.id}`))).toBe(true);
      // The page only ever had the HttpOnly cookie, never a token.
      expect(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie)).toBe('');
    } finally {
      await context.close();
    }
  });

  it('closes the stream within seconds of a logout', async () => {
    const user = await createUser(deps);
    const { context, page } = await open(dashboard.origin);
    try {
      await page.evaluate(
        async ([url, name, password]) => {
          const response = await fetch(`${url}/trpc/auth.login`, { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ json: { usernameOrEmail: name, password } }) });
          if (!response.ok) throw new Error(`login failed: ${response.status}`);
        },
        [api.url, user.username, user.password],
      );
      const before = deps.live.count().tasks;
      const ended = page.evaluate((url) => (globalThis as unknown as { watchThenLogout: (url: string) => Promise<string> }).watchThenLogout(url), api.url);
      await expect.poll(() => deps.live.count().tasks).toBe(before + 1);
      // The server counts the stream before the page hears it started (and defines logoutNow).
      await page.waitForFunction(() => 'logoutNow' in globalThis);
      await page.evaluate(() => (globalThis as unknown as { logoutNow: () => Promise<unknown> }).logoutNow());
      expect(await ended).toBe('UNAUTHORIZED');
      await expect.poll(() => deps.live.count().tasks).toBe(before);
    } finally {
      await context.close();
    }
  });

  it('refuses a page on a foreign origin, even with the session cookie in the browser', async () => {
    const user = await createUser(deps);
    // The browser holds a session cookie for the API (signed in from the dashboard)…
    const { context, page } = await open(dashboard.origin);
    try {
      await page.evaluate(
        async ([url, name, password]) => {
          await fetch(`${url}/trpc/auth.login`, { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ json: { usernameOrEmail: name, password } }) });
        },
        [api.url, user.username, user.password],
      );
      // …and a page of another origin, in the same browser, tries to use it.
      const other = await context.newPage();
      await other.goto(`${foreign.origin}/`);
      await other.waitForFunction(() => 'tryFromHere' in globalThis);
      const before = deps.live.count().tasks;
      const mark = logs.lines.length;
      const outcome = await other.evaluate((url) => (globalThis as unknown as { tryFromHere: (url: string) => Promise<{ submit: string; stream: string }> }).tryFromHere(url), api.url);
      // The mutation never left the browser (its CORS preflight got no allowance: the SDK's NetworkError); the
      // stream, a simple GET that carried the cookie, reached the server and was refused there (403), before
      // anything was streamed.
      expect(outcome).toEqual({ submit: 'NetworkError', stream: 'refused' });
      const since = () => logs.lines.slice(mark);
      await expect.poll(() => since().some((line) => line.path === '/api/tasks/events' && line.status === 403)).toBe(true);
      expect(since().some((line) => line.path === '/trpc/tasks.submit' && line.method === 'POST')).toBe(false);
      expect(deps.live.count().tasks).toBe(before);
      const theirs = await deps.db.orm.select({ id: deps.db.tables.tasks.id }).from(deps.db.tables.tasks).where(eq(deps.db.tables.tasks.userId, user.id));
      expect(theirs).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
