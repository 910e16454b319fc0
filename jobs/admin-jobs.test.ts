// Job operations for admins on both dialects (pg-boss on PGlite beside SQLite, in the app's Postgres beside
// Postgres): a job that fails into its dead-letter queue is listed and read (secrets redacted), retried until it
// completes; cancel, delete, retrying a whole dead-letter queue, paging, and who may do it; the same over REST.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { callerFor, dialects, failure, useTestDeps, useTestServer } from '../server/testing/harness.ts';
import { signedInUser, uniqueName } from '../server/testing/factories.ts';
import { rest } from '../server/testing/http.ts';
import type { Deps } from '../server/deps.ts';
import { defineJob, register } from './define.ts';
import { registeredJobs } from './registry.ts';

/** How many times each key's job ran, and the attempts a test holds until it lets them go. */
const runs = new Map<string, number>();
const holds = new Map<string, () => void>();

const flakyJob = defineJob({
  name: 'test.flaky',
  payload: z.object({
    key: z.string(),
    /** The first this many runs fail. */
    failTimes: z.number().int(),
    /** The first run waits until the test lets it go. */
    hold: z.boolean().optional(),
    /** Fail like a failed query, whose message carries its parameters. */
    queryError: z.boolean().optional(),
    resetToken: z.string().optional(),
    credentials: z.object({ password: z.string(), apiKey: z.string(), user: z.string() }).optional(),
  }),
  // No retries: the first failure dead-letters the job.
  options: { retryLimit: 0, retryDelay: 1, expireInSeconds: 60, heartbeatSeconds: 30 },
  handler: async (_deps, { key, failTimes, hold, queryError }) => {
    const run = (runs.get(key) ?? 0) + 1;
    runs.set(key, run);
    if (hold && run === 1) await new Promise<void>((resolve) => holds.set(key, resolve));
    if (run <= failTimes) throw new Error(queryError ? `Failed query: update "users" set "password_hash" = $1\nparams: $argon2id$v=19$secret-hash-${run}` : `failure ${run} of ${key}`);
  },
});
const definitions = [...registeredJobs, register(flakyJob)];
const DEAD = 'test.flaky.dead';

type Payload = z.infer<typeof flakyJob.payload>;

async function send(deps: Deps, payload: Omit<Payload, 'key'>) {
  const key = uniqueName('job');
  const id = await deps.queue.send(flakyJob, { key, ...payload });
  return { key, id };
}

describe.each(dialects)('job operations on %s', (dialect) => {
  const deps = useTestDeps(dialect, { work: true, definitions, env: { QUEUE_MAINTENANCE_INTERVAL_SECONDS: '1' } });
  const admin = async () => (await signedInUser(deps.current, { role: 'admin' })).caller;

  /** The copy of a failed job waiting in the dead-letter queue, once it is there. */
  async function deadCopy(caller: Awaited<ReturnType<typeof admin>>, sourceId: string) {
    const find = async () => (await caller.jobs.list({ queue: DEAD, state: 'created', limit: 100 })).items.find((job) => job.source?.id === sourceId);
    await expect.poll(find).toBeDefined();
    return (await find())!;
  }

  it('lists a job that failed into the dead-letter queue, reads it with secrets redacted, and a retry runs it to completion', async () => {
    const caller = await admin();
    const secret = { resetToken: 'reset-token-value-1234', credentials: { password: 'hunter2-password', apiKey: 'api-key-value-5678', user: 'ada' } };
    const { key, id } = await send(deps.current, { failTimes: 1, ...secret });
    const dead = await deadCopy(caller, id);
    expect(dead).toMatchObject({ queue: DEAD, state: 'created', lastError: `failure 1 of ${key}`, source: { queue: 'test.flaky', id, retryCount: 0 } });

    const failed = await caller.jobs.list({ queue: 'test.flaky', state: 'failed', limit: 100 });
    expect(failed.items.map((job) => job.id)).toContain(id);
    const original = await caller.jobs.get({ queue: 'test.flaky', id });
    expect(original).toMatchObject({ id, state: 'failed', retryCount: 0, retryLimit: 0, lastError: `failure 1 of ${key}`, source: null, completedOn: expect.any(Date) });

    for (const job of [original, await caller.jobs.get({ queue: DEAD, id: dead.id })]) {
      expect(job.data).toEqual({ key, failTimes: 1, resetToken: '[redacted]', credentials: { password: '[redacted]', apiKey: '[redacted]', user: 'ada' } });
      const shown = JSON.stringify(job);
      for (const value of ['reset-token-value-1234', 'hunter2-password', 'api-key-value-5678']) expect(shown).not.toContain(value);
    }

    expect(await caller.jobs.retry({ queue: DEAD, id: dead.id })).toEqual({ retried: 1 });
    // Moved back to its queue as a new job, which runs and completes this time.
    await expect.poll(async () => (await deps.current.queue.find(flakyJob, { key })).map((job) => job.state).sort()).toEqual(['completed', 'failed']);
    expect(runs.get(key)).toBe(2);
    expect((await failure(caller.jobs.get({ queue: DEAD, id: dead.id }))).code).toBe('NOT_FOUND');
  });

  it('retries a failed job in its own queue, and refuses to retry one that is not failed', async () => {
    const caller = await admin();
    const { key, id } = await send(deps.current, { failTimes: 1 });
    await expect.poll(async () => (await caller.jobs.get({ queue: 'test.flaky', id })).state).toBe('failed');
    expect(await caller.jobs.retry({ queue: 'test.flaky', id })).toEqual({ retried: 1 });
    await expect.poll(async () => (await caller.jobs.get({ queue: 'test.flaky', id })).state).toBe('completed');
    expect(runs.get(key)).toBe(2);
    expect(await failure(caller.jobs.retry({ queue: 'test.flaky', id }))).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('this one is completed') });
  });

  it('cancels an active job (its outcome is dropped), retries the cancelled job, and deletes jobs', async () => {
    const caller = await admin();
    const { key, id } = await send(deps.current, { failTimes: 0, hold: true });
    await expect.poll(() => holds.has(key)).toBe(true);
    expect((await caller.jobs.list({ queue: 'test.flaky', state: 'active', limit: 100 })).items.map((job) => job.id)).toContain(id);
    expect(await caller.jobs.cancel({ queue: 'test.flaky', id })).toMatchObject({ id, state: 'cancelled' });
    holds.get(key)!();
    await expect.poll(() => runs.get(key)).toBe(1);
    expect((await caller.jobs.get({ queue: 'test.flaky', id })).state).toBe('cancelled');
    expect(await failure(caller.jobs.cancel({ queue: 'test.flaky', id }))).toMatchObject({ code: 'CONFLICT' });

    expect(await caller.jobs.retry({ queue: 'test.flaky', id })).toEqual({ retried: 1 });
    await expect.poll(async () => (await caller.jobs.get({ queue: 'test.flaky', id })).state).toBe('completed');
    expect(runs.get(key)).toBe(2);

    expect(await caller.jobs.delete({ queue: 'test.flaky', id })).toEqual({ ok: true });
    expect((await failure(caller.jobs.get({ queue: 'test.flaky', id }))).code).toBe('NOT_FOUND');
    expect((await failure(caller.jobs.delete({ queue: 'test.flaky', id }))).code).toBe('NOT_FOUND');
  });

  it('retries everything waiting in a dead-letter queue, named by the queue or by the dead-letter queue', async () => {
    const caller = await admin();
    const sent = [];
    for (let i = 0; i < 3; i++) sent.push(await send(deps.current, { failTimes: 1 }));
    for (const { id } of sent) await deadCopy(caller, id);
    const { retried } = await caller.jobs.retryDead({ queue: 'test.flaky' });
    // Other tests' leftovers in the same dead-letter queue go too: at least these three.
    expect(retried).toBeGreaterThanOrEqual(3);
    for (const { key } of sent) {
      await expect.poll(async () => (await deps.current.queue.find(flakyJob, { key })).map((job) => job.state).sort()).toEqual(['completed', 'failed']);
    }
    expect((await caller.jobs.list({ queue: DEAD, state: 'created' })).items).toEqual([]);
    expect(await caller.jobs.retryDead({ queue: DEAD })).toEqual({ retried: 0 });
  });

  it('pages through a queue oldest first, by state, with the cursor pg-boss keeps', async () => {
    const caller = await admin();
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push(await send(deps.current, { failTimes: 0 }));
    for (const { id } of sent) await expect.poll(async () => (await caller.jobs.get({ queue: 'test.flaky', id })).state).toBe('completed');
    const seen: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < 100; page++) {
      const result = await caller.jobs.list({ queue: 'test.flaky', state: 'completed', limit: 2, after });
      expect(result.items.length).toBeLessThanOrEqual(2);
      for (const job of result.items) expect(job.state).toBe('completed');
      seen.push(...result.items.map((job) => job.id));
      if (result.next === null) break;
      after = result.next;
    }
    expect(new Set(seen).size).toBe(seen.length);
    const ids = sent.map(({ id }) => id);
    expect(seen.filter((id) => ids.includes(id))).toEqual(ids);
    // Without a state: every job, the failed ones too.
    const all = await caller.jobs.list({ queue: 'test.flaky', limit: 100 });
    expect(new Set(all.items.map((job) => job.state)).has('failed')).toBe(true);
    // When a call may read only a few jobs, its page can come back short, even empty, and `next` carries on.
    const failedIds = all.items.filter((job) => job.state === 'failed').map((job) => job.id);
    const collected: string[] = [];
    let shortPages = 0;
    let cursor: string | undefined;
    for (let call = 0; call < 1000; call++) {
      const page = await deps.current.queue.jobs.list('test.flaky', { state: 'failed', after: cursor, limit: 100, scanLimit: 2 });
      if (page.next !== null && page.jobs.length < 100) shortPages++;
      collected.push(...page.jobs.map((job) => job.id));
      if (page.next === null) break;
      cursor = page.next;
    }
    expect(collected.slice(0, failedIds.length)).toEqual(failedIds);
    expect(shortPages).toBeGreaterThan(0);
    // A cursor whose job is gone, or that is no job id at all, is bad input.
    expect(await failure(caller.jobs.list({ queue: 'test.flaky', after: crypto.randomUUID() }))).toMatchObject({ code: 'BAD_REQUEST', fieldErrors: { after: [expect.any(String)] } });
    expect((await failure(caller.jobs.list({ queue: 'test.flaky', after: 'not-an-id' }))).fieldErrors).toHaveProperty('after');
  });

  it('keeps a failed query’s parameters out of the last error', async () => {
    const caller = await admin();
    const { id } = await send(deps.current, { failTimes: 1, queryError: true });
    await expect.poll(async () => (await caller.jobs.get({ queue: 'test.flaky', id })).state).toBe('failed');
    const job = await caller.jobs.get({ queue: 'test.flaky', id });
    expect(job.lastError).toBe('Failed query: update "users" set "password_hash" = $1');
    expect(JSON.stringify(job)).not.toContain('secret-hash');
    expect(JSON.stringify(await caller.jobs.get({ queue: DEAD, id: (await deadCopy(caller, id)).id }))).not.toContain('secret-hash');
  });

  it('shows every registered queue and its dead-letter queue with pg-boss’s counts', async () => {
    const caller = await admin();
    const queues = await caller.jobs.queues();
    expect(queues.map((queue) => queue.name)).toEqual(definitions.flatMap((definition) => [definition.name, `${definition.name}.dead`]));
    expect(queues.find((queue) => queue.name === 'test.flaky')).toMatchObject({ deadLetter: DEAD });
    // A failed job stays failed: pg-boss's monitor counts it.
    await expect.poll(async () => (await caller.jobs.queues()).find((queue) => queue.name === 'test.flaky')!.failed).toBeGreaterThan(0);
  });

  it('answers NOT_FOUND for unknown queues and jobs, and is for admins only', async () => {
    const caller = await admin();
    for (const queue of ['nope', 'test.flaky.dead.dead', '', 'pgboss.job']) {
      const result = await failure(caller.jobs.list({ queue }));
      expect(result.code, queue).toBe(queue === '' ? 'BAD_REQUEST' : 'NOT_FOUND');
    }
    expect((await failure(caller.jobs.retryDead({ queue: 'nope' }))).code).toBe('NOT_FOUND');
    for (const id of [crypto.randomUUID(), 'not-a-uuid', "'; drop table pgboss.job; --"]) {
      expect((await failure(caller.jobs.get({ queue: 'test.flaky', id }))).code).toBe('NOT_FOUND');
      expect((await failure(caller.jobs.retry({ queue: 'email.welcome', id }))).code).toBe('NOT_FOUND');
      expect((await failure(caller.jobs.cancel({ queue: 'test.flaky', id }))).code).toBe('NOT_FOUND');
      expect((await failure(caller.jobs.delete({ queue: 'test.flaky', id }))).code).toBe('NOT_FOUND');
    }
    const { id } = await send(deps.current, { failTimes: 0 });
    const user = (await signedInUser(deps.current)).caller;
    const calls = (c: typeof user) => [
      c.jobs.queues(),
      c.jobs.list({ queue: 'test.flaky' }),
      c.jobs.get({ queue: 'test.flaky', id }),
      c.jobs.retry({ queue: 'test.flaky', id }),
      c.jobs.cancel({ queue: 'test.flaky', id }),
      c.jobs.delete({ queue: 'test.flaky', id }),
      c.jobs.retryDead({ queue: 'test.flaky' }),
    ];
    for (const result of await Promise.all(calls(user).map(failure))) expect(result).toMatchObject({ code: 'FORBIDDEN', message: 'admin only' });
    for (const result of await Promise.all(calls(callerFor(deps.current)).map(failure))) expect(result.code).toBe('UNAUTHORIZED');
    expect((await caller.jobs.get({ queue: 'test.flaky', id })).id).toBe(id);
  });
});

describe.each(dialects)('job operations over REST on %s', (dialect) => {
  const app = useTestServer(dialect, { work: true, definitions });

  it('lists, reads, retries and deletes jobs as plain JSON; users get 403', async () => {
    const admin = await signedInUser(app.deps, { role: 'admin' });
    const { key, id } = await send(app.deps, { failTimes: 1, resetToken: 'rest-reset-token-value' });
    type Page = { items: { id: string; state: string; data: Record<string, unknown>; lastError: string | null; createdOn: string; source: { id: string } | null }[]; next: string | null };
    const deadList = async () => (await rest<Page>(app.url, 'GET', `/api/admin/queues/${DEAD}/jobs`, { token: admin.token, query: { state: 'created', limit: 100 } })).body.items.find((job) => job.source?.id === id);
    await expect.poll(deadList).toBeDefined();
    const dead = (await deadList())!;
    expect(dead).toMatchObject({ state: 'created', lastError: `failure 1 of ${key}`, data: { key, resetToken: '[redacted]' } });
    expect(new Date(dead.createdOn).toISOString()).toBe(dead.createdOn);

    const one = await rest(app.url, 'GET', `/api/admin/queues/test.flaky/jobs/${id}`, { token: admin.token });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id, state: 'failed', data: { resetToken: '[redacted]' } });
    expect(JSON.stringify(one.body)).not.toContain('rest-reset-token-value');

    const retried = await rest(app.url, 'POST', `/api/admin/queues/${DEAD}/jobs/${dead.id}/retry`, { token: admin.token });
    expect(retried).toMatchObject({ status: 200, body: { retried: 1 } });
    await expect.poll(async () => (await app.deps.queue.find(flakyJob, { key })).map((job) => job.state).sort()).toEqual(['completed', 'failed']);

    expect((await rest(app.url, 'POST', `/api/admin/queues/test.flaky/jobs/${id}/cancel`, { token: admin.token })).status).toBe(409);
    expect((await rest(app.url, 'POST', '/api/admin/queues/test.flaky/retry-dead', { token: admin.token })).status).toBe(200);
    expect((await rest(app.url, 'DELETE', `/api/admin/queues/test.flaky/jobs/${id}`, { token: admin.token })).body).toEqual({ ok: true });
    expect((await rest(app.url, 'GET', `/api/admin/queues/test.flaky/jobs/${id}`, { token: admin.token })).status).toBe(404);
    expect((await rest(app.url, 'GET', '/api/admin/queues/nope/jobs', { token: admin.token })).status).toBe(404);
    expect((await rest(app.url, 'GET', '/api/admin/queues/test.flaky/jobs', { token: admin.token, query: { state: 'lost' } })).status).toBe(400);

    const user = await signedInUser(app.deps);
    expect((await rest(app.url, 'GET', '/api/admin/queues', { token: user.token })).status).toBe(403);
    expect((await rest(app.url, 'DELETE', `/api/admin/queues/test.flaky/jobs/${id}`, { token: user.token })).status).toBe(403);
    expect((await rest(app.url, 'GET', '/api/admin/queues')).status).toBe(401);
  });
});
