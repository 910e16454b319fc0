// Live updates over HTTP on both dialects: the SDK's subscriptions (SSE with a bearer token), the same streams
// as text/event-stream under /api, resuming with Last-Event-ID, cookies from foreign origins, and the per-IP budget.
import { describe, expect, it } from 'vitest';
import { createClient, isApiError } from '../client-sdk/src/index.ts';
import { newId } from '../db/index.ts';
import { closeDeps } from './deps.ts';
import { createTestDeps, dialects, startTestServer, useTestServer } from './testing/harness.ts';
import { signedInUser } from './testing/factories.ts';
import { rest } from './testing/http.ts';

type Event = { id: string | null; event: string | null; data: string };

/** Reads server-sent events from a response until `done` says so (or the stream ends), then hangs up. */
async function readEvents(response: Response, done: (events: Event[]) => boolean): Promise<Event[]> {
  const reader = response.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  const decoder = new TextDecoder();
  const events: Event[] = [];
  let buffer = '';
  try {
    while (!done(events)) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const field = (name: string) => block.split('\n').find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2) ?? null;
        const data = field('data');
        if (data !== null) events.push({ id: field('id'), event: field('event'), data });
      }
    }
  } finally {
    await reader.cancel();
  }
  return events;
}

const dataOf = (event: Event) => JSON.parse(event.data) as { id: string; status: string; result: unknown };

describe.each(dialects)('live updates over HTTP on %s', (dialect) => {
  const app = useTestServer(dialect, { work: true, env: { CORS_ORIGINS: 'http://dashboard.test' } });

  it('delivers a task’s completion to the SDK over SSE with a bearer token, and ends the stream', async () => {
    const { token } = await signedInUser(app.deps);
    const api = createClient({ url: app.url, token });
    const { id } = await api.tasks.submit.mutate({ type: 'math.sum', input: { numbers: [2, 3] } });
    const seen: { id: string; status: string; sum: number | null }[] = [];
    await new Promise<void>((resolve, reject) => {
      const subscription = api.tasks.onChange.subscribe(
        { taskId: id },
        {
          onData: ({ id: eventId, data }) => {
            seen.push({ id: eventId, status: data.status, sum: data.type === 'math.sum' ? (data.result?.sum ?? null) : null });
            if (data.finishedAt !== null && !(data.finishedAt instanceof Date)) reject(new Error('dates arrive as Dates'));
          },
          onError: (error) => reject(error),
          onComplete: () => {
            subscription.unsubscribe();
            resolve();
          },
        },
      );
    });
    expect(seen.at(-1)).toMatchObject({ status: 'completed', sum: 5 });
    expect(seen.every((event) => /^\d+:/.test(event.id))).toBe(true);
    await expect.poll(() => app.deps.live.count().tasks).toBe(0);
  });

  it('tells the SDK NOT_FOUND for another user’s task and BAD_REQUEST for a malformed event id', async () => {
    const alice = await signedInUser(app.deps);
    const bob = await signedInUser(app.deps);
    const { id } = await bob.caller.tasks.submit({ type: 'math.sum', input: { numbers: [1] } });
    const api = createClient({ url: app.url, token: alice.token });
    const errorOf = (input: { taskId?: string; lastEventId?: string }) =>
      new Promise<unknown>((resolve) => {
        const subscription = api.tasks.onChange.subscribe(input, {
          onData: () => resolve(new Error('expected no event')),
          onError: (error) => {
            subscription.unsubscribe();
            resolve(error);
          },
        });
      });
    expect(isApiError(await errorOf({ taskId: id }), 'NOT_FOUND')).toBe(true);
    expect(isApiError(await errorOf({ taskId: newId() }), 'NOT_FOUND')).toBe(true);
    expect(isApiError(await errorOf({ lastEventId: 'not-an-id' }), 'BAD_REQUEST')).toBe(true);
  });

  it('serves the streams under /api as text/event-stream, refusing before the stream as JSON', async () => {
    const { token, caller } = await signedInUser(app.deps);
    const { id } = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [4] } });
    const response = await fetch(`${app.url}/api/tasks/events?taskId=${id}`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = await readEvents(response, (seen) => seen.some((event) => dataOf(event).status === 'completed'));
    expect(dataOf(events[0]).id).toBe(id);
    expect(dataOf(events.at(-1)!)).toMatchObject({ status: 'completed', result: { sum: 4 } });
    expect(events.every((event) => event.id !== null && /^\d+:/.test(event.id))).toBe(true);

    // A reconnect with Last-Event-ID (all tasks): what finished since, in its current state.
    const second = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [6] } });
    await expect.poll(async () => (await caller.tasks.get({ id: second.id })).status).toBe('completed');
    const resumed = await fetch(`${app.url}/api/tasks/events`, { headers: { authorization: `Bearer ${token}`, 'last-event-id': events.at(-1)!.id! } });
    const replay = await readEvents(resumed, (seen) => seen.some((event) => dataOf(event).id === second.id));
    expect(replay.map(dataOf).find((task) => task.id === second.id)).toMatchObject({ status: 'completed', result: { sum: 6 } });

    expect((await rest(app.url, 'GET', `/api/tasks/events`, { token, query: { taskId: newId() } })).status).toBe(404);
    const malformed = await rest<{ error: { code: string } }>(app.url, 'GET', '/api/tasks/events', { token, headers: { 'last-event-id': 'garbage' } });
    expect({ status: malformed.status, code: malformed.body.error.code }).toEqual({ status: 400, code: 'BAD_REQUEST' });
    expect((await rest(app.url, 'GET', '/api/tasks/events')).status).toBe(401);
    expect((await rest(app.url, 'GET', '/api/admin/stats/events', { token })).status).toBe(403);
    await expect.poll(() => app.deps.live.count().tasks).toBe(0);
  });

  it('opens a stream with the session cookie only from our own or a CORS_ORIGINS origin', async () => {
    const { token } = await signedInUser(app.deps);
    const open = (origin: string | null) =>
      fetch(`${app.url}/api/tasks/events`, { headers: { cookie: `session=${token}`, ...(origin ? { origin } : {}) } });
    const foreign = await open('http://evil.test');
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    for (const origin of ['http://dashboard.test', null]) {
      const allowed = await open(origin);
      expect(allowed.status).toBe(200);
      if (origin) expect(allowed.headers.get('access-control-allow-origin')).toBe(origin);
      await allowed.body?.cancel();
    }
    // A bearer token is no ambient credential: any origin may use one.
    const bearer = await fetch(`${app.url}/api/tasks/events`, { headers: { authorization: `Bearer ${token}`, origin: 'http://evil.test' } });
    expect(bearer.status).toBe(200);
    await bearer.body?.cancel();
  });
});

describe.each(dialects)('subscriptions and the per-IP budget on %s', (dialect) => {
  it('counts each subscription request against RATE_LIMIT_GLOBAL_PER_MINUTE', async () => {
    const deps = await createTestDeps(dialect, { env: { RATE_LIMIT_GLOBAL_PER_MINUTE: '3' } });
    const server = await startTestServer(deps);
    try {
      const { token } = await signedInUser(deps);
      const statuses: number[] = [];
      const trpc = `${server.url}/trpc/tasks.onChange?input=${encodeURIComponent(JSON.stringify({ json: {} }))}`;
      for (const url of [`${server.url}/api/tasks/events`, trpc, `${server.url}/api/tasks/events`, trpc]) {
        const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
        statuses.push(response.status);
        await response.body?.cancel();
      }
      expect(statuses).toEqual([200, 200, 200, 429]);
    } finally {
      await server.close();
      await closeDeps(deps);
    }
  });
});
