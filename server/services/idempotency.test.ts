// Idempotency keys on both dialects: a repeat gets the first response and creates nothing, another input is a
// conflict, concurrent repeats make one row, failures and expiry free the key; the same over REST's header.
import { and, count, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import type { Deps } from '../deps.ts';
import { callerFor, dialects, failure, useTestServer } from '../testing/harness.ts';
import { signedInUser } from '../testing/factories.ts';
import { rest } from '../testing/http.ts';
import { IDEMPOTENCY_KEY_TTL_MS, IN_PROGRESS_LEASE_MS, hashOf, idempotently } from './idempotency.ts';

async function postsOf(deps: Deps, userId: string): Promise<number> {
  const { posts } = deps.db.tables;
  const [row] = await deps.db.orm.select({ n: count() }).from(posts).where(eq(posts.authorId, userId));
  return row.n;
}

async function tasksOf(deps: Deps, userId: string): Promise<number> {
  const { tasks } = deps.db.tables;
  const [row] = await deps.db.orm.select({ n: count() }).from(tasks).where(eq(tasks.userId, userId));
  return row.n;
}

describe.each(dialects)('idempotency keys on %s', (dialect) => {
  const app = useTestServer(dialect);

  it('answers a repeat with the first response and creates nothing more', async () => {
    const { user, token } = await signedInUser(app.deps);
    const caller = callerFor(app.deps, { token, idempotencyKey: 'post-1' });
    const first = await caller.posts.create({ title: 'Once', body: 'only once' });
    const again = await caller.posts.create({ body: 'only once', title: 'Once' });
    expect(again).toEqual(first);
    expect(again.createdAt).toBeInstanceOf(Date);
    expect(await postsOf(app.deps, user.id)).toBe(1);

    const submit = callerFor(app.deps, { token, idempotencyKey: 'task-1' });
    const task = await submit.tasks.submit({ type: 'math.sum', input: { numbers: [1, 2] } });
    expect(await submit.tasks.submit({ type: 'math.sum', input: { numbers: [1, 2] } })).toEqual(task);
    expect(await tasksOf(app.deps, user.id)).toBe(1);

    // Without a key, or with another one, each call runs.
    await callerFor(app.deps, { token }).posts.create({ title: 'Once', body: 'only once' });
    await callerFor(app.deps, { token, idempotencyKey: 'post-2' }).posts.create({ title: 'Once', body: 'only once' });
    expect(await postsOf(app.deps, user.id)).toBe(3);
  });

  it('refuses the same key with another input, and scopes keys per user and procedure', async () => {
    const { user, token } = await signedInUser(app.deps);
    const caller = callerFor(app.deps, { token, idempotencyKey: 'shared-key' });
    await caller.posts.create({ title: 'First', body: '' });
    const reused = await failure(caller.posts.create({ title: 'Second', body: '' }));
    expect(reused).toMatchObject({ code: 'CONFLICT', fieldErrors: { 'Idempotency-Key': ['was used with a different request'] } });
    // The same key for another procedure, and for another user, is another key.
    await caller.tasks.submit({ type: 'math.sum', input: { numbers: [1] } });
    const other = await signedInUser(app.deps);
    await callerFor(app.deps, { token: other.token, idempotencyKey: 'shared-key' }).posts.create({ title: 'Second', body: '' });
    expect(await postsOf(app.deps, user.id)).toBe(1);
    expect(await postsOf(app.deps, other.user.id)).toBe(1);
    expect(await failure(callerFor(app.deps, { token, idempotencyKey: 'has space' }).posts.create({ title: 'x', body: '' }))).toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('makes one post of many concurrent requests with one key, every one answered with it', async () => {
    const { user, token } = await signedInUser(app.deps);
    const caller = callerFor(app.deps, { token, idempotencyKey: 'burst' });
    const results = await Promise.all(Array.from({ length: 12 }, () => caller.posts.create({ title: 'Burst', body: 'x'.repeat(1000) })));
    expect(new Set(results.map((post) => post.id)).size).toBe(1);
    expect(await postsOf(app.deps, user.id)).toBe(1);
  });

  it('gives the key up when the request fails, and forgets it once expired', async () => {
    const { user, token } = await signedInUser(app.deps);
    const call = { userId: user.id, procedure: 'posts.create', key: 'flaky', input: { title: 'x' } };
    await expect(idempotently(app.deps, call, () => Promise.reject(new AppError('CONFLICT', 'not this time')))).rejects.toThrow('not this time');
    expect(await idempotently(app.deps, call, () => Promise.resolve({ ran: 'second' }))).toEqual({ ran: 'second' });
    expect(await idempotently(app.deps, call, () => Promise.resolve({ ran: 'third' }))).toEqual({ ran: 'second' });

    const caller = callerFor(app.deps, { token, idempotencyKey: 'short-lived' });
    await caller.posts.create({ title: 'Before', body: '' });
    const { idempotencyKeys } = app.deps.db.tables;
    await app.deps.db.orm
      .update(idempotencyKeys)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(and(eq(idempotencyKeys.userId, user.id), eq(idempotencyKeys.key, 'short-lived')));
    await caller.posts.create({ title: 'After', body: '' });
    expect(await postsOf(app.deps, user.id)).toBe(2);
  });

  it('lets a repeat take over a key whose request died before it answered, once the claim is past its lease', async () => {
    const { user, token } = await signedInUser(app.deps);
    const { idempotencyKeys } = app.deps.db.tables;
    const key = 'orphaned';
    // What a request leaves when its process is killed between the claim and the response: a claim, no response.
    const claimAged = (ageMs: number) =>
      app.deps.db.orm.insert(idempotencyKeys).values({
        userId: user.id,
        procedure: 'posts.create',
        key,
        requestHash: hashOf({ title: 'Orphan', body: '' }),
        createdAt: new Date(Date.now() - ageMs),
        expiresAt: new Date(Date.now() - ageMs + IDEMPOTENCY_KEY_TTL_MS),
      });
    const caller = callerFor(app.deps, { token, idempotencyKey: key });
    // Within the lease the first request may still be running: a repeat waits, then is told to try again later.
    await claimAged(1000);
    const waiting = await failure(caller.posts.create({ title: 'Orphan', body: '' }));
    expect(waiting.code).toBe('CONFLICT');
    expect(waiting.message).toContain('still in progress');
    expect(await postsOf(app.deps, user.id)).toBe(0);
    // Past it the claim is an orphan: the repeat runs once, and its answer is the key's from then on.
    await app.deps.db.orm.update(idempotencyKeys).set({ createdAt: new Date(Date.now() - IN_PROGRESS_LEASE_MS - 1000) }).where(eq(idempotencyKeys.key, key));
    const results = await Promise.all([caller.posts.create({ title: 'Orphan', body: '' }), caller.posts.create({ title: 'Orphan', body: '' })]);
    expect(results[1]).toEqual(results[0]);
    expect(await caller.posts.create({ title: 'Orphan', body: '' })).toEqual(results[0]);
    expect(await postsOf(app.deps, user.id)).toBe(1);
  });

  it('reads the Idempotency-Key header on /api and /trpc', async () => {
    const { user, token } = await signedInUser(app.deps);
    const send = () => rest<{ id: string }>(app.url, 'POST', '/api/posts', { token, json: { title: 'Over REST', body: '' }, headers: { 'idempotency-key': 'rest-1' } });
    const [first, second] = [await send(), await send()];
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(second.body.id).toBe(first.body.id);
    const other = await rest(app.url, 'POST', '/api/posts', { token, json: { title: 'Changed', body: '' }, headers: { 'idempotency-key': 'rest-1' } });
    expect(other.status).toBe(409);
    const trpc = () =>
      fetch(`${app.url}/trpc/tasks.submit`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': 'trpc-1' },
        body: JSON.stringify({ json: { type: 'math.sum', input: { numbers: [4] } } }),
      }).then((response) => response.json() as Promise<{ result: { data: { json: { id: string } } } }>);
    expect((await trpc()).result.data.json.id).toBe((await trpc()).result.data.json.id);
    expect(await postsOf(app.deps, user.id)).toBe(1);
    expect(await tasksOf(app.deps, user.id)).toBe(1);
  });
});
