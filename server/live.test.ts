// Live updates on both dialects: tasks.onChange and admin.onStats through createCaller, announcements that
// follow commits (and never rollbacks), resuming, limits, and subscriptions whose session ends.
import { describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { callerFor, dialects, failure, useTestDeps } from './testing/harness.ts';
import { createUser, manualClock, signedInUser } from './testing/factories.ts';
import { newId } from '../db/index.ts';
import { TASK_CHANNEL, taskAnnouncement } from './services/task-changes.ts';
import { deleteSession } from './services/sessions.ts';
import type { Deps } from './deps.ts';
import { appRouter } from './routers/index.ts';
import { createInnerContext } from './trpc/context.ts';
import { createCallerFactory, SSE_PING_MS } from './trpc/init.ts';

type Envelope<T> = [string, T, symbol];

const createCaller = createCallerFactory(appRouter);

/**
 * A caller whose subscriptions see a client that goes away: `reader(...).close()` aborts, as a dropped
 * connection does over HTTP.
 */
function subscriber(deps: Deps, token: string) {
  const abort = new AbortController();
  return { abort, caller: createCaller(() => createInnerContext(deps, { token, ip: '127.0.0.1' }), { signal: abort.signal }) };
}

/**
 * Reads a subscription's events one at a time, each within a deadline. The stream starts at once (a generator
 * runs on its first read), so it listens before the test changes anything.
 */
function reader<T>(iterable: AsyncIterable<unknown>, abort?: AbortController) {
  const iterator = iterable[Symbol.asyncIterator]();
  let first: Promise<IteratorResult<unknown>> | null = iterator.next();
  first.catch(() => {});
  return {
    next: async (timeoutMs = 240_000): Promise<IteratorResult<Envelope<T>>> => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no event within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        const next = first ?? iterator.next();
        first = null;
        return (await Promise.race([next, deadline])) as IteratorResult<Envelope<T>>;
      } finally {
        clearTimeout(timer);
      }
    },
    close: async () => {
      abort?.abort();
      await iterator.return?.();
    },
  };
}

type TaskEvent = { id: string; status: string; userId: string; result: unknown };

/** Events until one satisfies `done` (or the stream ends); returns them all. */
async function until<T>(events: ReturnType<typeof reader<T>>, done: (event: T) => boolean): Promise<Envelope<T>[]> {
  const seen: Envelope<T>[] = [];
  for (;;) {
    const next = await events.next();
    if (next.done) return seen;
    seen.push(next.value);
    if (done(next.value[1])) return seen;
  }
}

/** Inserts a task row the way tasks.submit does (announcing it), inside a transaction that may roll back. */
async function insertAnnounced(deps: Deps, userId: string, rollBack: boolean): Promise<string> {
  const id = newId();
  await deps.db
    .transaction(async (tx) => {
      await tx
        .insert(deps.db.tables.tasks)
        .values({ id, userId, type: 'math.sum', input: { numbers: [1] }, createdAt: deps.clock.now() })
        .returning({ announced: taskAnnouncement(deps) });
      if (rollBack) throw new Error('roll back');
    })
    .catch((error: unknown) => {
      if (!rollBack) throw error;
    });
  return id;
}

describe.each(dialects)('live updates on %s', (dialect) => {
  const deps = useTestDeps(dialect, { work: true, env: { LIVE_MAX_SUBSCRIPTIONS_PER_USER: '3', LIVE_SESSION_CHECK_SECONDS: '1' } });

  it('announces a task write when it commits and never when it rolls back', async () => {
    const user = await createUser(deps.current);
    const heard: string[] = [];
    const stop = await deps.current.db.listen(TASK_CHANNEL, { message: (payload) => heard.push(payload), resync: () => {} });
    try {
      const rolledBack = await insertAnnounced(deps.current, user.id, true);
      const committed = await insertAnnounced(deps.current, user.id, false);
      await expect.poll(() => heard.some((payload) => payload.startsWith(committed))).toBe(true);
      expect(heard).toContain(`${committed} ${user.id} queued`);
      expect(heard.some((payload) => payload.startsWith(rolledBack))).toBe(false);
    } finally {
      await stop();
    }
  });

  it('watches one task: its current state first, then each change, and the stream ends when it finishes', async () => {
    const { caller } = await signedInUser(deps.current);
    const { id } = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [1, 2, 3] } });
    const events = reader<TaskEvent>(await caller.tasks.onChange({ taskId: id }));
    const seen = await until(events, (task) => task.status === 'completed');
    expect(seen[0][1].id).toBe(id);
    expect(['queued', 'running', 'completed']).toContain(seen[0][1].status);
    const last = seen.at(-1)![1];
    expect(last).toMatchObject({ id, status: 'completed', result: { sum: 6 } });
    expect(seen.every(([eventId]) => /^\d+:[0-9a-f-]+$/.test(eventId))).toBe(true);
    expect((await events.next()).done).toBe(true);
    expect(deps.current.live.count().tasks).toBe(0);
  });

  it('watches the caller’s own tasks only; an admin watches everyone’s or one user’s', async () => {
    const alice = await signedInUser(deps.current);
    const bob = await signedInUser(deps.current);
    const admin = await signedInUser(deps.current, { role: 'admin' });
    const [a, b, c] = [subscriber(deps.current, alice.token), subscriber(deps.current, admin.token), subscriber(deps.current, admin.token)];
    const aliceEvents = reader<TaskEvent>(await a.caller.tasks.onChange({}), a.abort);
    const adminAll = reader<TaskEvent>(await b.caller.tasks.onChange({}), b.abort);
    const adminBob = reader<TaskEvent>(await c.caller.tasks.onChange({ userId: bob.user.id }), c.abort);
    await expect.poll(() => deps.current.live.count().tasks).toBeGreaterThanOrEqual(3);
    try {
      const bobs = await bob.caller.tasks.submit({ type: 'math.sum', input: { numbers: [2] } });
      const alices = await alice.caller.tasks.submit({ type: 'math.sum', input: { numbers: [1] } });
      const forAlice = await until(aliceEvents, (task) => task.id === alices.id && task.status === 'completed');
      expect(forAlice.every(([, task]) => task.userId === alice.user.id)).toBe(true);
      await until(adminAll, (task) => task.id === bobs.id && task.status === 'completed');
      const forBob = await until(adminBob, (task) => task.id === bobs.id && task.status === 'completed');
      expect(forBob.every(([, task]) => task.userId === bob.user.id)).toBe(true);
    } finally {
      await Promise.all([aliceEvents.close(), adminAll.close(), adminBob.close()]);
    }
    expect((await failure(alice.caller.tasks.onChange({ userId: bob.user.id }))).code).toBe('FORBIDDEN');
  });

  it('refuses unknown and other users’ task ids (NOT_FOUND) and malformed event ids (BAD_REQUEST)', async () => {
    const alice = await signedInUser(deps.current);
    const bob = await signedInUser(deps.current);
    const { id } = await bob.caller.tasks.submit({ type: 'math.sum', input: { numbers: [1] } });
    // Refused on subscribe, before any event.
    const subscribe = (input: Parameters<typeof alice.caller.tasks.onChange>[0]) => alice.caller.tasks.onChange(input);
    expect((await failure(subscribe({ taskId: id }))).code).toBe('NOT_FOUND');
    expect((await failure(subscribe({ taskId: newId() }))).code).toBe('NOT_FOUND');
    const malformed = await failure(subscribe({ lastEventId: 'yesterday' }));
    expect(malformed.code).toBe('BAD_REQUEST');
    expect(malformed.fieldErrors).toHaveProperty('lastEventId');
    expect((await failure(callerFor(deps.current).tasks.onChange({}))).code).toBe('UNAUTHORIZED');
    expect(deps.current.live.count().tasks).toBe(0);
  });

  it('resumes from a last event id with the tasks that finished since, in their current state', async () => {
    const { caller, token } = await signedInUser(deps.current);
    const first = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [1] } });
    const watching = reader<TaskEvent>(await caller.tasks.onChange({ taskId: first.id }));
    const seen = await until(watching, (task) => task.status === 'completed');
    const lastEventId = seen.at(-1)![0];
    // While "disconnected", another task runs to the end.
    const second = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [5] } });
    await expect.poll(async () => (await caller.tasks.get({ id: second.id })).status).toBe('completed');
    const again = subscriber(deps.current, token);
    const resumed = reader<TaskEvent>(await again.caller.tasks.onChange({ lastEventId }), again.abort);
    try {
      const replay = await until(resumed, (task) => task.id === second.id);
      expect(replay.at(-1)![1]).toMatchObject({ id: second.id, status: 'completed', result: { sum: 5 } });
    } finally {
      await resumed.close();
    }
  });

  it('caps subscriptions per user (TOO_MANY_REQUESTS) and frees the place when one closes', async () => {
    const { caller, token } = await signedInUser(deps.current);
    const before = deps.current.live.count().tasks;
    const streams = await Promise.all(
      [1, 2, 3].map(async () => {
        const { caller: own, abort } = subscriber(deps.current, token);
        return reader<TaskEvent>(await own.tasks.onChange({}), abort);
      }),
    );
    await expect.poll(() => deps.current.live.count().tasks).toBe(before + 3);
    expect((await failure(caller.tasks.onChange({}))).code).toBe('TOO_MANY_REQUESTS');
    await streams[0].close();
    await expect.poll(() => deps.current.live.count().tasks).toBe(before + 2);
    const again = subscriber(deps.current, token);
    const reopened = reader<TaskEvent>(await again.caller.tasks.onChange({}), again.abort);
    await expect.poll(() => deps.current.live.count().tasks).toBe(before + 3);
    await Promise.all([...streams.slice(1), reopened].map((stream) => stream.close()));
    await expect.poll(() => deps.current.live.count().tasks).toBe(before);
  });

  it('ends a subscription whose session ended (logout) or whose user was deactivated', async () => {
    const loggedOut = await signedInUser(deps.current);
    const deactivated = await signedInUser(deps.current);
    const first = failure(reader(await loggedOut.caller.tasks.onChange({})).next());
    const second = failure(reader(await deactivated.caller.tasks.onChange({})).next());
    await expect.poll(() => deps.current.live.count().tasks).toBeGreaterThanOrEqual(2);
    await deleteSession(deps.current, loggedOut.sessionId);
    await deps.current.db.orm.update(deps.current.db.tables.users).set({ isActive: false }).where(eq(deps.current.db.tables.users.id, deactivated.user.id));
    // LIVE_SESSION_CHECK_SECONDS is 1 here: both end within seconds without anything else happening.
    expect((await first).code).toBe('UNAUTHORIZED');
    expect((await second).code).toBe('UNAUTHORIZED');
  });

  it('pushes admin.stats now and again when the counts change; admins only', async () => {
    const admin = await signedInUser(deps.current, { role: 'admin' });
    const user = await signedInUser(deps.current);
    type StatsEvent = { tasks: Record<string, number> };
    const own = subscriber(deps.current, admin.token);
    const stats = reader<StatsEvent>(await own.caller.admin.onStats(), own.abort);
    try {
      const [id, now] = (await stats.next()).value as Envelope<StatsEvent>;
      expect(id).toMatch(/^\d+$/);
      const before = Object.values(now.tasks).reduce((a, b) => a + b, 0);
      await user.caller.tasks.submit({ type: 'math.sum', input: { numbers: [1] } });
      await until(stats, (event) => Object.values(event.tasks).reduce((a, b) => a + b, 0) > before);
    } finally {
      await stats.close();
    }
    expect((await failure(user.caller.admin.onStats())).code).toBe('FORBIDDEN');
  });
});

describe.each(dialects)('with LIVE_UPDATES=false on %s', (dialect) => {
  const deps = useTestDeps(dialect, { env: { LIVE_UPDATES: 'false' } });

  it('announces no task write and refuses the streams', async () => {
    const user = await createUser(deps.current);
    const heard: string[] = [];
    const stop = await deps.current.db.listen(TASK_CHANNEL, { message: (payload) => heard.push(payload), resync: () => {} });
    try {
      await insertAnnounced(deps.current, user.id, false);
      // SQLite delivers at the commit, before the insert returns. Postgres delivers asynchronously, in commit
      // order: a marker notified after the insert has arrived only once the insert's own would have.
      if (deps.current.db.dialect === 'postgres') {
        await deps.current.db.orm.execute(sql`select pg_notify(${TASK_CHANNEL}, 'marker')`);
        await expect.poll(() => heard.includes('marker')).toBe(true);
      }
      expect(heard.filter((payload) => payload !== 'marker')).toEqual([]);
    } finally {
      await stop();
    }
    const { caller } = await signedInUser(deps.current);
    expect((await failure(caller.tasks.onChange({}))).code).toBe('FORBIDDEN');
  });
});

describe.each(dialects)('subscriptions and the end of a session on %s', (dialect) => {
  const clock = manualClock();
  const deps = useTestDeps(dialect, { clock });

  it('ends an admin stream whose user is no longer an admin, and a stream whose session expired', async () => {
    const { users } = deps.current.db.tables;
    const admin = await signedInUser(deps.current, { role: 'admin' });
    const expiring = await signedInUser(deps.current);
    const a = subscriber(deps.current, admin.token);
    const stats = reader(await a.caller.admin.onStats(), a.abort);
    expect((await stats.next()).done).toBe(false);
    const demoted = failure(stats.next());
    const e = subscriber(deps.current, expiring.token);
    const expired = failure(reader(await e.caller.tasks.onChange({}), e.abort).next());
    await deps.current.live.checkSessions();
    expect(deps.current.live.count()).toEqual({ tasks: 1, stats: 1 });

    await deps.current.db.orm.update(users).set({ role: 'user' }).where(eq(users.id, admin.user.id));
    await deps.current.live.checkSessions();
    expect((await demoted).code).toBe('FORBIDDEN');
    expect(deps.current.live.count()).toEqual({ tasks: 1, stats: 0 });

    // The clock passes the session's 30 days of inactivity.
    clock.advance(31 * 24 * 60 * 60 * 1000);
    await deps.current.live.checkSessions();
    expect((await expired).code).toBe('UNAUTHORIZED');
    expect(deps.current.live.count()).toEqual({ tasks: 0, stats: 0 });
  });
});

describe('keep-alive', () => {
  it('pings idle streams well within the 60 s that proxies such as ALB and Cloud Run allow, on /trpc and /api alike', () => {
    const sse = (appRouter._def._config as { sse?: { ping?: { enabled: boolean; intervalMs?: number }; client?: { reconnectAfterInactivityMs?: number } } }).sse;
    expect(sse?.ping).toEqual({ enabled: true, intervalMs: SSE_PING_MS });
    expect(SSE_PING_MS).toBeLessThanOrEqual(30_000);
    // Clients give up on a silent connection only after missing a couple of pings.
    expect(sse?.client?.reconnectAfterInactivityMs).toBeGreaterThanOrEqual(2 * SSE_PING_MS);
  });
});
