// The admin console in a real browser (Debian's chromium, driven by playwright-core), on both dialects: sign-in and the
// live overview, a task from another client followed live, a duplicate e-mail on its field, a dead-letter job
// retried, what non-admins and visitors get (in the browser and over plain HTTP), /admin/queues; on every page no
// console error, no CSP violation, no request to another origin, and no serious or critical axe-core violation.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createClient } from '../../client-sdk/src/index.ts';
import { defineJob, register } from '../../jobs/define.ts';
import { registeredJobs } from '../../jobs/registry.ts';
import { createUser, signedInUser, TEST_PASSWORD, uniqueName } from '../testing/factories.ts';
import { callerFor, dialects, useTestServer } from '../testing/harness.ts';
import { CONSOLE_POLICY } from '../http/console.ts';

/** Debian's chromium (.ci/run installs it when missing). */
const CHROMIUM = process.env.CHROMIUM_PATH ?? execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], { encoding: 'utf8' }).trim();
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
/** CI keeps this folder (gitignored) as an artifact: one screenshot of each page per dialect. */
const SCREENSHOTS = join(import.meta.dirname, '..', '..', 'build', 'screenshots');

/** How long a wait for the page may take: a hang guard, as long as vitest's for expect.poll (the outcome is asserted). */
const WAIT = { timeout: 240_000 };

/** A job whose first runs fail (no retries: the first failure dead-letters it). */
const runs = new Map<string, number>();
const flakyJob = defineJob({
  name: 'test.console-flaky',
  payload: z.object({ key: z.string(), failTimes: z.number().int() }),
  options: { retryLimit: 0, retryDelay: 1, expireInSeconds: 60, heartbeatSeconds: 30 },
  handler: async (_deps, { key, failTimes }) => {
    const run = (runs.get(key) ?? 0) + 1;
    runs.set(key, run);
    if (run <= failTimes) throw new Error(`failure ${run} of ${key}`);
  },
});
const definitions = [...registeredJobs, register(flakyJob)];

let browser: Browser;
beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
  mkdirSync(SCREENSHOTS, { recursive: true });
});
afterAll(async () => {
  await browser?.close();
});

/** What a page did that it must not: console errors, uncaught errors, CSP violations, requests to other origins. */
type Problems = { console: string[]; errors: string[]; csp: string[]; foreign: string[] };

async function openContext(origin: string): Promise<{ context: BrowserContext; page: Page; problems: Problems }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(WAIT.timeout);
  const problems: Problems = { console: [], errors: [], csp: [], foreign: [] };
  await context.exposeBinding('reportViolation', (_source, text: string) => void problems.csp.push(text));
  // Runs in the page, before its own scripts (a string: this file is type-checked without the DOM's types).
  await context.addInitScript(`document.addEventListener('securitypolicyviolation', (event) => reportViolation(location.pathname + ': ' + event.violatedDirective + ' ' + event.blockedURI));`);
  context.on('console', (message) => {
    if (message.type() === 'error') problems.console.push(`${message.page()?.url() ?? ''}: ${message.text()}`);
  });
  context.on('weberror', (error) => void problems.errors.push(error.error().message));
  context.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith('data:')) problems.foreign.push(url);
  });
  const page = await context.newPage();
  return { context, page, problems };
}

/** axe-core, injected into the page (by the driver: the page's CSP allows no script of ours), run on it as it is. */
async function seriousViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.evaluate(AXE);
  const violations = await page.evaluate<{ id: string; impact: string | null; targets: string[] }[]>(
    `axe.run(document).then((result) => result.violations.map((violation) => ({ id: violation.id, impact: violation.impact, targets: violation.nodes.map((node) => JSON.stringify(node.target)) })))`,
  );
  return violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical').map((violation) => `${violation.id}: ${violation.targets.join(', ')}`);
}

/** Every number the overview shows, by its `data-stat` (`users.total`, `tasks.completed`, `queues.tasks.run.queued`…). */
const shownStats = (page: Page): Promise<Record<string, number>> =>
  page.evaluate<Record<string, number>>(`Object.fromEntries([...document.querySelectorAll('[data-stat]')].map((element) => [element.getAttribute('data-stat'), Number(element.textContent)]))`);

type StatsLike = { users: { total: number; active: number }; activeSessions: number; posts: { total: number; published: number }; tasks: Record<string, number>; queues: Record<string, Record<string, number>>; strandedTasks: number; outbox: { pending: number } };

function expectedStats(stats: StatsLike): Record<string, number> {
  const expected: Record<string, number> = {
    'users.total': stats.users.total,
    'users.active': stats.users.active,
    activeSessions: stats.activeSessions,
    'posts.total': stats.posts.total,
    'posts.published': stats.posts.published,
    strandedTasks: stats.strandedTasks,
    'outbox.pending': stats.outbox.pending,
  };
  for (const [status, count] of Object.entries(stats.tasks)) expected[`tasks.${status}`] = count;
  for (const [queue, counts] of Object.entries(stats.queues)) for (const [name, count] of Object.entries(counts)) expected[`queues.${queue}.${name}`] = count;
  return expected;
}

describe.each(dialects)('the admin console in Chromium on %s', (dialect) => {
  // Stats refreshed every second (10 s by default): the overview's counts of users and sessions follow sooner.
  const app = useTestServer(dialect, { work: true, definitions, env: { QUEUE_MAINTENANCE_INTERVAL_SECONDS: '1', LIVE_STATS_REFRESH_SECONDS: '1' } });
  let admin: { context: BrowserContext; page: Page; problems: Problems; username: string; id: string };
  const checked = new Set<string>();

  /** axe on the page as it stands, and a screenshot (once per page name). */
  async function inspect(page: Page, name: string) {
    expect(await seriousViolations(page), `axe on ${name}`).toEqual([]);
    if (!checked.has(name)) {
      checked.add(name);
      await page.screenshot({ path: join(SCREENSHOTS, `${dialect}-${name}.png`), fullPage: true });
    }
  }

  async function goTo(page: Page, name: 'Overview' | 'Users' | 'Tasks' | 'Jobs') {
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name, exact: true }).click();
    await page.getByRole('heading', { level: 1, name }).waitFor();
  }

  beforeAll(async () => {
    const user = await createUser(app.deps, { role: 'admin' });
    admin = { ...(await openContext(app.url)), username: user.username, id: user.id };
  });

  afterAll(async () => {
    await admin?.context.close();
  });

  it('signs in with an e-mail address and shows admin.stats, then follows it live', async () => {
    const { page } = admin;
    const response = await page.goto(`${app.url}/admin`);
    expect(response?.headers()['content-security-policy']).toBe(CONSOLE_POLICY);
    await page.getByLabel('Username or e-mail').fill(`${admin.username.toLowerCase()}@example.com`);
    await page.getByLabel('Password').fill(TEST_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();

    const stats = callerFor(app.deps, { token: (await signedInUser(app.deps, { role: 'admin' })).token }).admin.stats;
    // Counts change while the page reads them (sessions, maintenance jobs): equal once the stream has caught up.
    const mismatches = async () => {
      const [shown, expected] = [await shownStats(page), expectedStats(await stats())];
      const keys = [...new Set([...Object.keys(shown), ...Object.keys(expected)])];
      return keys.filter((key) => shown[key] !== expected[key]).map((key) => `${key}: shown ${shown[key]}, admin.stats ${expected[key]}`);
    };
    await expect.poll(mismatches, WAIT).toEqual([]);
    expect(Object.keys(await shownStats(page))).toContain('queues.tasks.run.queued');
    await expect.poll(async () => (await page.locator('canvas').count()) >= 2, WAIT).toBe(true);
    await inspect(page, 'overview');

    const before = (await shownStats(page))['users.total'];
    await createUser(app.deps);
    await expect.poll(async () => (await shownStats(page))['users.total'], WAIT).toBe(before + 1);

    // By keyboard: the first Tab reaches the skip link, which moves focus to the page's content; the navigation
    // is links that Enter follows.
    const focused = () => page.evaluate<{ id: string; text: string; outline: string }>(`({ id: document.activeElement.id, text: document.activeElement.textContent.trim(), outline: getComputedStyle(document.activeElement).outlineStyle })`);
    await page.evaluate('document.activeElement && document.activeElement.blur()');
    await page.keyboard.press('Tab');
    expect(await focused()).toEqual({ id: '', text: 'Skip to main content', outline: 'solid' });
    await page.keyboard.press('Enter');
    await expect.poll(async () => (await focused()).id, WAIT).toBe('main');
    await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: 'Users', exact: true }).focus();
    expect((await focused()).outline).toBe('solid');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
    await expect.poll(async () => (await focused()).id, WAIT).toBe('main');
  });

  it('shows a task submitted by another client as it appears and completes, without a reload, and its input and result', async () => {
    const { page } = admin;
    await goTo(page, 'Tasks');
    await page.getByText('Live: rows update as tasks change.').waitFor();
    await page.evaluate(() => ((globalThis as unknown as { notReloaded: boolean }).notReloaded = true));

    const other = await signedInUser(app.deps);
    const client = createClient({ url: app.url, token: other.token });
    const { id } = await client.tasks.submit.mutate({ type: 'math.sum', input: { numbers: [2, 3, 4] } });
    const row = page.locator(`tr[data-task-id="${id}"]`);
    await row.waitFor(WAIT);
    await expect.poll(() => row.locator('[data-status]').getAttribute('data-status')).toBe('completed');
    expect(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);

    await row.getByRole('button', { name: `Details of task ${id}` }).click();
    await expect.poll(() => page.getByLabel('Result', { exact: true }).textContent(), WAIT).toContain('"sum": 9');
    expect(await page.getByLabel('Input', { exact: true }).textContent()).toContain('"numbers"');

    // Filtering by user: the other client's username narrows the list to its task.
    await page.getByLabel('User (username or e-mail)').fill(other.user.username);
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => page.locator('tr[data-task-id]').count(), WAIT).toBe(1);
    await inspect(page, 'tasks');
  });

  it('shows a duplicate e-mail on the e-mail field, then creates the user, changes a role and deactivates', async () => {
    const { page } = admin;
    await goTo(page, 'Users');
    const taken = await createUser(app.deps);
    await page.getByRole('button', { name: 'New user' }).click();
    const username = uniqueName('made');
    await page.getByLabel('Username', { exact: true }).fill(username);
    await page.getByLabel('E-mail', { exact: true }).fill(taken.email);
    await page.getByLabel('Password (optional)').fill('a long enough password');
    await page.getByRole('button', { name: 'Create user' }).click();
    const email = page.getByLabel('E-mail', { exact: true });
    await expect.poll(() => email.getAttribute('aria-invalid'), WAIT).toBe('true');
    const errorId = (await email.getAttribute('aria-describedby')) ?? '';
    expect(await page.locator(`#${errorId}`).textContent()).toMatch(/taken|already|use/i);
    await expect.poll(() => page.evaluate('document.activeElement && document.activeElement.id'), WAIT).toBe('create-email');
    // The one console line allowed: Chromium's own log of the 409 this scenario provokes (it logs every failed
    // response). Anything else the page logs fails the last test.
    const conflicts = admin.problems.console.filter((line) => / 409 \(Conflict\)$/.test(line));
    expect(conflicts).toHaveLength(1);
    admin.problems.console.splice(admin.problems.console.indexOf(conflicts[0]), 1);
    await inspect(page, 'users-form-error');

    await email.fill(`${username.toLowerCase()}@example.com`);
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByRole('status').filter({ hasText: `Created ${username}.` }).waitFor();
    const created = await callerFor(app.deps, { token: (await signedInUser(app.deps, { role: 'admin' })).token }).users.list({ q: username });
    expect(created.items).toMatchObject([{ username, role: 'user', isActive: true }]);
    const id = created.items[0].id;

    await page.getByLabel('Search (username, e-mail or name)').fill(username);
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => page.locator('tr[data-user-id]').count(), WAIT).toBe(1);
    await page.getByRole('button', { name: `Edit ${username}` }).click();
    await page.getByLabel('Role', { exact: true }).last().selectOption('admin');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: `Saved ${username}.` }).waitFor();
    await page.getByRole('button', { name: `Deactivate ${username}` }).click();
    await page.getByRole('status').filter({ hasText: `${username} is now deactivated.` }).waitFor();
    const { users } = app.deps.db.tables;
    const rows = await app.deps.db.orm.select({ role: users.role, isActive: users.isActive }).from(users).where(eq(users.id, id));
    expect(rows).toEqual([{ role: 'admin', isActive: false }]);
    await inspect(page, 'users');
  });

  it('retries a dead-letter job from the Jobs page, and it completes', async () => {
    const { page } = admin;
    const key = uniqueName('job');
    const id = await app.deps.queue.send(flakyJob, { key, failTimes: 1 });
    await goTo(page, 'Jobs');
    await page.getByRole('button', { name: 'Show test.console-flaky jobs' }).click();
    // The failure reaches the dead-letter queue; the page reads its lists again when the counts move.
    const dead = page.locator(`tr[data-source-id="${id}"]`);
    await dead.waitFor(WAIT);
    expect(await dead.textContent()).toContain(`failure 1 of ${key}`);
    expect(await page.locator(`tr[data-job-id="${id}"]`).count()).toBe(1);
    await inspect(page, 'jobs');

    await dead.getByRole('button', { name: /^Retry job / }).click();
    await page.getByRole('status').filter({ hasText: 'is queued again.' }).waitFor();
    await expect.poll(() => runs.get(key)).toBe(2);
    const jobs = callerFor(app.deps, { token: (await signedInUser(app.deps, { role: 'admin' })).token }).jobs;
    await expect
      .poll(async () => (await jobs.list({ queue: 'test.console-flaky', state: 'completed', limit: 100 })).items.some((job) => (job.data as { key?: string }).key === key))
      .toBe(true);
    await expect.poll(() => dead.count()).toBe(0);

    // The original failed job can go too.
    await page.locator(`tr[data-job-id="${id}"]`).getByRole('button', { name: /^Delete job / }).click();
    await expect.poll(() => page.locator(`tr[data-job-id="${id}"]`).count()).toBe(0);
  });

  it('gives a non-admin and a signed-out visitor no admin data, in the browser and over HTTP', async () => {
    // A visitor: the sign-in form, and no call to any procedure.
    const visitor = await openContext(app.url);
    const calls: string[] = [];
    visitor.page.on('request', (request) => {
      if (/\/(trpc|api)\//.test(request.url())) calls.push(new URL(request.url()).pathname);
    });
    try {
      await visitor.page.goto(`${app.url}/admin/users`);
      await visitor.page.getByRole('button', { name: 'Sign in' }).waitFor();
      expect(calls).toEqual([]);
      await inspect(visitor.page, 'sign-in');

      const user = await createUser(app.deps);
      await visitor.page.getByLabel('Username or e-mail').fill(user.username);
      await visitor.page.getByLabel('Password').fill(user.password);
      await visitor.page.getByRole('button', { name: 'Sign in' }).click();
      await expect.poll(() => visitor.page.getByRole('alert').textContent(), WAIT).toContain('who is not an admin');
      expect(calls).toEqual(['/trpc/auth.login']);
      expect(await visitor.page.locator('[data-stat], [data-user-id], [data-task-id], [data-job-id]').count()).toBe(0);
      await inspect(visitor.page, 'not-admin');
      // A reload asks who is signed in, and nothing else.
      await visitor.page.reload();
      await visitor.page.getByText('who is not an admin').waitFor();
      expect(calls).toEqual(['/trpc/auth.login', '/trpc/auth.me']);
      expect(visitor.problems).toEqual({ console: [], errors: [], csp: [], foreign: [] });

      // Over plain HTTP, with that user's cookie and with none.
      const session = (await visitor.context.cookies()).find((cookie) => cookie.name === 'session');
      expect(session).toBeDefined();
      const asUser = { cookie: `session=${session?.value}` };
      for (const [path, headers, status] of [
        ['/trpc/admin.stats', asUser, 403],
        ['/trpc/admin.stats', {}, 401],
        ['/api/admin/stats', asUser, 403],
        ['/api/admin/stats', {}, 401],
        ['/api/admin/stats/events', asUser, 403],
        ['/api/users', asUser, 403],
        ['/api/users', {}, 401],
        ['/api/admin/queues', asUser, 403],
        ['/admin/queues', asUser, 403],
        ['/admin/queues', {}, 401],
      ] as const) {
        const response = await fetch(`${app.url}${path}`, { headers });
        expect(response.status, `${path} ${JSON.stringify(headers)}`).toBe(status);
        await response.body?.cancel();
      }
      // The console's page is the same shell for everyone: it carries no data.
      const shell = await (await fetch(`${app.url}/admin`, { headers: asUser })).text();
      expect(shell).not.toMatch(new RegExp(`${user.username}|${admin.username}|@example\\.com`));
    } finally {
      await visitor.context.close();
    }
  });

  it('/admin/queues: pg-boss’s dashboard with our queues for an admin on Postgres, a link to the Jobs page on the embedded queue', async () => {
    const { page } = admin;
    const queues = await admin.context.newPage();
    try {
      await queues.goto(`${app.url}/admin/queues`);
      if (app.deps.queue.backend === 'postgres') {
        await queues.goto(`${app.url}/admin/queues/queues`);
        await expect.poll(() => queues.content()).toContain('tasks.run');
        expect(await queues.content()).toContain('email.welcome');
      } else {
        await queues.getByRole('link', { name: 'Jobs page' }).click();
        await queues.getByRole('heading', { level: 1, name: 'Jobs' }).waitFor();
      }
    } finally {
      await queues.close();
    }
    // The console's pages (not pg-boss's, which has its own policy) never logged an error or broke the policy.
    expect(admin.problems.console.filter((line) => !line.includes('/admin/queues'))).toEqual([]);
    expect(admin.problems.errors).toEqual([]);
    expect(admin.problems.csp.filter((line) => !line.startsWith('/admin/queues'))).toEqual([]);
    expect(admin.problems.foreign).toEqual([]);
    expect(page.url()).toContain('/admin');
  });
});
