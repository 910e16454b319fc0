// The SDK's runtime against a live server on both dialects: batching that never makes a request the server
// refuses, transport failures as NetworkError, timeouts, retries (idempotency keys for mutations), sign-in
// helpers, cookie-only sign-in, rate-limit headers, extra links and waitForTask. Faults come from a small HTTP
// front that sits between the client and the API.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { count, eq } from 'drizzle-orm';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { createClient, isAbortError, isApiError, isNetworkError, NetworkError, type Client, type FinishedTask, type RateLimit, type Task } from './src/index.ts';
import type { Deps } from '../server/deps.ts';
import { dialects, useTestServer } from '../server/testing/harness.ts';
import { createUser, signedInUser, TEST_PASSWORD, uniqueName } from '../server/testing/factories.ts';

type Front = { url: string; requests: { method: string; path: string; at: number; headers: IncomingMessage['headers'] }[]; close: () => Promise<void> };
type Answer = (req: IncomingMessage, res: ServerResponse, forward: () => Promise<Response>, index: number) => Promise<void> | void;

/** An HTTP server in front of the API: `answer` decides per request (forward it, fail it, hold it). */
async function front(target: string, answer: Answer): Promise<Front> {
  const requests: Front['requests'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const index = requests.push({ method: req.method ?? '', path: req.url ?? '', at: Date.now(), headers: req.headers }) - 1;
      const forward = () => {
        const headers = Object.fromEntries(Object.entries(req.headers).filter(([name]) => name !== 'host' && name !== 'connection' && name !== 'content-length')) as Record<string, string>;
        return fetch(`${target}${req.url ?? ''}`, { method: req.method, headers, body: chunks.length > 0 ? Buffer.concat(chunks) : undefined });
      };
      Promise.resolve(answer(req, res, forward, index)).catch(() => res.destroy());
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Sends the API's response on as it came. */
async function relay(res: ServerResponse, response: Response): Promise<void> {
  const body = Buffer.from(await response.arrayBuffer());
  const headers = Object.fromEntries([...response.headers].filter(([name]) => !['content-length', 'content-encoding', 'transfer-encoding', 'connection'].includes(name)));
  res.writeHead(response.status, headers).end(body);
}

/** The global fetch, telling `see` about each request first. */
const watched =
  (see: (input: string | URL | Request, init: RequestInit | undefined) => void) =>
  (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    see(input, init);
    return fetch(input, init);
  };

async function failureOf(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    () => new Error('expected the call to fail'),
    (error: unknown) => error,
  );
}

async function postCount(deps: Deps, authorId: string): Promise<number> {
  const { posts } = deps.db.tables;
  const [row] = await deps.db.orm.select({ n: count() }).from(posts).where(eq(posts.authorId, authorId));
  return row.n;
}

describe.each(dialects)('the SDK at run time on %s', (dialect) => {
  const app = useTestServer(dialect, { work: true });

  it('answers 50 concurrent searches with long queries by batches within the URL limit (unbounded, Node refuses with 431)', async () => {
    const { token } = await signedInUser(app.deps);
    const search = (api: Client) => Promise.allSettled(Array.from({ length: 50 }, (_, i) => api.posts.list.query({ q: `${'é'.repeat(180)} ${i}`, limit: 5 })));
    const sent: string[] = [];
    const api = createClient({ url: app.url, token, fetch: watched((input) => sent.push(input instanceof Request ? input.url : input.toString())) });
    const results = await search(api);
    expect(results.filter((result) => result.status === 'rejected')).toEqual([]);
    expect(sent.length).toBeGreaterThan(1);
    expect(Math.max(...sent.map((url) => url.length))).toBeLessThanOrEqual(8000);

    const unbounded = await search(createClient({ url: app.url, token, maxURLLength: Infinity }));
    const reasons = unbounded.map((result) => (result.status === 'rejected' ? (result.reason as unknown) : null));
    expect(reasons.every((reason) => isNetworkError(reason) && reason.status === 431 && reason.reason === 'http')).toBe(true);
  });

  it('creates 30 posts of 45 KB at once, one request each', async () => {
    const { user, token } = await signedInUser(app.deps);
    const bodies: number[] = [];
    const api = createClient({ url: app.url, token, fetch: watched((_input, init) => bodies.push(typeof init?.body === 'string' ? init.body.length : 0)) });
    const created = await Promise.all(Array.from({ length: 30 }, (_, i) => api.posts.create.mutate({ title: `Long ${i}`, body: 'x'.repeat(45_000) })));
    expect(new Set(created.map((post) => post.id)).size).toBe(30);
    expect(await postCount(app.deps, user.id)).toBe(30);
    expect(bodies).toHaveLength(30);
    expect(Math.max(...bodies)).toBeLessThan(app.deps.config.BODY_LIMIT);
  });

  it('turns a refused connection and a response that is not the API’s into NetworkError', async () => {
    // A port nothing listens on (fetch refuses "bad ports" such as 1 before connecting).
    const closed = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => closed.once('listening', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const refused = await failureOf(createClient({ url: `http://127.0.0.1:${port}` }).posts.list.query({}));
    expect(isNetworkError(refused)).toBe(true);
    expect(refused).toMatchObject({ status: null, reason: 'ECONNREFUSED', data: undefined });
    expect(isApiError(refused)).toBe(false);

    const proxy = await front(app.url, (_req, res) => void res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad gateway</h1>'));
    try {
      const html = await failureOf(createClient({ url: proxy.url }).posts.list.query({}));
      expect(html).toBeInstanceOf(NetworkError);
      expect(html).toMatchObject({ status: 502, reason: 'http' });
      // The API's own errors stay API errors.
      const unauthorized = await failureOf(createClient({ url: app.url }).auth.me.query());
      expect(isApiError(unauthorized, 'UNAUTHORIZED')).toBe(true);
      expect(isNetworkError(unauthorized)).toBe(false);
    } finally {
      await proxy.close();
    }
  });

  it('retries queries after network errors, but a mutation only with an idempotency key, which the server honours', async () => {
    const { user, token } = await signedInUser(app.deps);
    const flaky = await front(app.url, async (_req, res, forward, index) => {
      if (index < 2) return void res.writeHead(503).end();
      await relay(res, await forward());
    });
    try {
      const api = createClient({ url: flaky.url, token, retries: 2 });
      expect((await api.auth.me.query()).id).toBe(user.id);
      expect(flaky.requests).toHaveLength(3);
    } finally {
      await flaky.close();
    }

    // The first create reaches the API, but its answer is lost: the retry, with the same key, gets the same post.
    const lossy = await front(app.url, async (req, res, forward, index) => {
      const response = await forward();
      if (index === 0) return void res.destroy();
      await relay(res, response);
    });
    try {
      const api = createClient({ url: lossy.url, token, retries: 2 });
      const post = await api.posts.create.mutate({ title: 'Exactly once', body: '' });
      expect(lossy.requests).toHaveLength(2);
      const keys = lossy.requests.map((request) => request.headers['idempotency-key']);
      expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
      expect(keys[1]).toBe(keys[0]);
      expect(await postCount(app.deps, user.id)).toBe(1);
      expect((await createClient({ url: app.url, token }).posts.get.query({ id: post.id })).title).toBe('Exactly once');

      // posts.update carries no key: not retried.
      lossy.requests.length = 0;
      const update = await failureOf(createClient({ url: lossy.url, token, retries: 2 }).posts.update.mutate({ id: post.id, title: 'Twice?' }));
      expect(isNetworkError(update)).toBe(true);
      expect(lossy.requests).toHaveLength(1);
    } finally {
      await lossy.close();
    }
  });

  it('waits as Retry-After says before retrying a 429, and gives up when it asks for longer than retryMaxDelayMs', async () => {
    const { token } = await signedInUser(app.deps);
    const limited = await front(app.url, async (_req, res, forward, index) => {
      if (index === 0) {
        const shape = { code: -32029, message: 'too many requests', data: { code: 'TOO_MANY_REQUESTS', httpStatus: 429, retryAfterSeconds: 1 } };
        return void res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' }).end(JSON.stringify({ error: { json: shape } }));
      }
      await relay(res, await forward());
    });
    try {
      await createClient({ url: limited.url, token, retries: 1 }).auth.me.query();
      expect(limited.requests).toHaveLength(2);
      expect(limited.requests[1].at - limited.requests[0].at).toBeGreaterThanOrEqual(950);

      limited.requests.length = 0;
      const impatient = await failureOf(createClient({ url: limited.url, token, retries: 3, retryMaxDelayMs: 500 }).auth.me.query());
      expect(isApiError(impatient, 'TOO_MANY_REQUESTS')).toBe(true);
      expect(limited.requests).toHaveLength(1);
    } finally {
      await limited.close();
    }
  });

  it('times out with a NetworkError, and a per-call signal aborts with an abort error', async () => {
    const silent = await front(app.url, () => undefined);
    try {
      const timedOut = await failureOf(createClient({ url: silent.url, timeoutMs: 200 }).posts.list.query({}));
      expect(timedOut).toMatchObject({ reason: 'timeout', status: null });
      expect(isAbortError(timedOut)).toBe(false);

      const controller = new AbortController();
      const call = createClient({ url: silent.url, retries: 2 }).posts.list.query({}, { signal: controller.signal });
      const deadline = Date.now() + 10_000;
      while (silent.requests.length < 2 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
      controller.abort();
      const aborted = await failureOf(call);
      expect(isAbortError(aborted)).toBe(true);
      expect(isNetworkError(aborted)).toBe(false);
    } finally {
      await silent.close();
    }
  });

  it('times out a body that stalls, and calls a body that breaks off a NetworkError, which a retry gets past', async () => {
    // The API's headers, then half of its body; then nothing more (stalls) or the connection ends (breaks off).
    // Later requests get the whole response.
    const half = (end: 'stall' | 'break') =>
      front(app.url, async (_req, res, forward, index) => {
        const response = await forward();
        const body = Buffer.from(await response.arrayBuffer());
        if (index > 0) return void res.writeHead(response.status, { 'content-type': 'application/json' }).end(body);
        res.writeHead(response.status, { 'content-type': 'application/json', 'content-length': String(body.length) });
        res.write(body.subarray(0, body.length >> 1));
        if (end === 'break') setImmediate(() => res.destroy());
      });
    const stalls = await half('stall');
    const breaks = await half('break');
    try {
      const timedOut = await failureOf(createClient({ url: stalls.url, timeoutMs: 300 }).posts.list.query({}));
      expect(isNetworkError(timedOut)).toBe(true);
      expect(timedOut).toMatchObject({ reason: 'timeout', status: null });
      const brokenOff = await failureOf(createClient({ url: breaks.url }).posts.list.query({}));
      expect(isNetworkError(brokenOff)).toBe(true);
      expect(brokenOff).toMatchObject({ status: null });

      const retried = await half('break');
      try {
        expect(await createClient({ url: retried.url, retries: 1 }).posts.list.query({})).toMatchObject({ items: expect.any(Array) });
        expect(retried.requests).toHaveLength(2);
      } finally {
        await retried.close();
      }
    } finally {
      await stalls.close();
      await breaks.close();
    }
  });

  it('keeps the token on signUp, forgets it on signOut even when the session is gone, and shows the rate-limit budget', async () => {
    const authorizations: (string | null)[] = [];
    const links: string[] = [];
    const api = createClient({
      url: app.url,
      fetch: watched((_input, init) => authorizations.push(new Headers(init?.headers).get('authorization'))),
      links: [
        () =>
          ({ op, next }) => {
            links.push(`${op.type} ${op.path}`);
            return next(op);
          },
      ],
    });
    expect(api.rateLimit()).toBeNull();
    const name = uniqueName('signup');
    const { user, token } = await api.signUp({ username: name, email: `${name}@example.com`, password: TEST_PASSWORD });
    expect(token).toEqual(expect.any(String));
    expect((await api.auth.me.query()).id).toBe(user.id);
    expect(authorizations.at(-1)).toBe(`Bearer ${token}`);
    const budget = api.rateLimit();
    expectTypeOf(budget).toEqualTypeOf<RateLimit | null>();
    expect(budget!.limit).toBeGreaterThan(0);
    expect(budget!.remaining).toBeLessThan(budget!.limit);

    await api.auth.logout.mutate();
    await api.signOut();
    await failureOf(api.auth.me.query());
    expect(authorizations.at(-1)).toBeNull();
    expect(links).toEqual(['mutation auth.register', 'query auth.me', 'mutation auth.logout', 'mutation auth.logout', 'query auth.me']);
  });

  it('signs in by cookie alone when asked: no token in the body, the cookie does the rest', async () => {
    const user = await createUser(app.deps);
    let cookie = '';
    const setCookies: string[] = [];
    const jar = async (input: string | URL | Request, init?: RequestInit) => {
      const response = await fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...(cookie ? { cookie } : {}) } });
      for (const line of response.headers.getSetCookie()) {
        setCookies.push(line);
        cookie = line.split(';')[0];
      }
      return response;
    };
    const api = createClient({ url: app.url, cookieOnly: true, fetch: jar });
    const login = await api.signIn({ usernameOrEmail: user.username, password: user.password });
    expect(login.token).toBeNull();
    expect(setCookies.at(-1)).toMatch(/HttpOnly/i);
    expect((await api.auth.me.query()).id).toBe(user.id);
  });

  it('waits for a task over its subscription, narrowing a completed task’s result; polls when the stream is refused', async () => {
    const { token } = await signedInUser(app.deps);
    const api = createClient({ url: app.url, token });
    const { id } = await api.tasks.submit.mutate({ type: 'math.sum', input: { numbers: [2, 3, 4] } });
    const task = await api.waitForTask(id, { timeoutMs: 60_000 });
    expectTypeOf(task).toEqualTypeOf<FinishedTask>();
    expect(task.status).toBe('completed');
    if (task.status === 'completed' && task.type === 'math.sum') {
      // Non-null without a check: the union is keyed on status.
      expectTypeOf(task.result).toEqualTypeOf<{ sum: number; count: number }>();
      expect(task.result.sum).toBe(9);
    }
    const queued: Task = await api.tasks.get.query({ id });
    if (queued.status !== 'completed') expectTypeOf(queued.result).toEqualTypeOf<null>();

    const noStreams = await front(app.url, async (req, res, forward) => {
      if (req.url?.includes('tasks.onChange')) return void res.writeHead(503).end();
      await relay(res, await forward());
    });
    try {
      const viaPolling = createClient({ url: noStreams.url, token });
      const next = await viaPolling.tasks.submit.mutate({ type: 'math.sum', input: { numbers: [5] } });
      expect(await viaPolling.waitForTask(next.id, { timeoutMs: 60_000 })).toMatchObject({ status: 'completed', result: { sum: 5 } });
      expect(noStreams.requests.some((request) => request.path.includes('tasks.get'))).toBe(true);
    } finally {
      await noStreams.close();
    }

    expect(isApiError(await failureOf(api.waitForTask('no-such-task')), 'NOT_FOUND')).toBe(true);
    expect(isAbortError(await failureOf(api.waitForTask(id, { signal: AbortSignal.abort() })))).toBe(true);
    const silent = await front(app.url, () => undefined);
    try {
      const timedOut = await failureOf(createClient({ url: silent.url, token }).waitForTask(id, { timeoutMs: 300 }));
      expect(timedOut).toMatchObject({ name: 'TimeoutError' });
    } finally {
      await silent.close();
    }
  });
});
