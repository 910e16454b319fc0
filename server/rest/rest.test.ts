// REST under /api over real HTTP, on both dialects: plain JSON in and out, the same services, validation, errors
// and rate limits as /trpc, and /trpc itself unchanged by the REST layer.
import express from 'express';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { requestContext } from '../http/middleware.ts';
import { drain, listen } from '../http/server.ts';
import { appRouter } from '../routers/index.ts';
import { createHttpContext } from '../trpc/context.ts';
import { publicProcedure, router } from '../trpc/init.ts';
import { createRestHandler, type RestError } from './handler.ts';
import { openApiDocument } from './openapi.ts';
import { restOperations } from './operations.ts';
import { createUser, signIn, TEST_PASSWORD, uniqueName } from '../testing/factories.ts';
import { captureLogs, dialects, useTestServer } from '../testing/harness.ts';
import { rest, trpcCall } from '../testing/http.ts';

type User = { id: string; username: string; email: string; createdAt: string };
type LoggedIn = { user: User; token: string; expiresAt: string };
type Post = { id: string; title: string; published: boolean; createdAt: string; author: { id: string; username: string } };
type Page<T> = { items: T[]; total: number; totalIsLowerBound: boolean; nextCursor: string | null };

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe.each(dialects)('REST on %s', (dialect) => {
  const app = useTestServer(dialect, { work: true });

  async function registered(): Promise<LoggedIn> {
    const name = uniqueName('rest');
    const response = await rest<LoggedIn>(app.url, 'POST', '/api/auth/register', { json: { username: name, email: `${name}@Example.com`, password: 'a long enough password' } });
    expect(response.status).toBe(201);
    return response.body;
  }

  it('registers, signs in and reads the account as plain JSON, dates as ISO 8601 strings', async () => {
    const { user, token, expiresAt } = await registered();
    expect(user.email).toBe(user.email.toLowerCase());
    expect(user.createdAt).toMatch(ISO);
    expect(expiresAt).toMatch(ISO);
    expect(JSON.stringify(user)).not.toMatch(/password|hash/i);

    const login = await rest<LoggedIn>(app.url, 'POST', '/api/auth/login', { json: { usernameOrEmail: user.username, password: 'a long enough password' } });
    expect(login.status).toBe(200);
    const me = await rest<User>(app.url, 'GET', '/api/auth/me', { token: login.body.token });
    expect(me).toMatchObject({ status: 200, body: { id: user.id, username: user.username } });
    expect((await rest(app.url, 'GET', '/api/auth/me', { token })).status).toBe(200);
  });

  it('writes, reads, edits, searches and deletes posts, with typed query parameters', async () => {
    const { token, user } = await registered();
    const word = `zebra${Date.now().toString(36)}`;
    const created = await rest<Post>(app.url, 'POST', '/api/posts', { token, json: { title: `About the ${word}`, body: 'stripes', published: true } });
    expect(created.status).toBe(201);
    const draft = await rest<Post>(app.url, 'POST', '/api/posts', { token, json: { title: `A draft on the ${word}`, body: '' } });
    expect(draft.body.published).toBe(false);

    const anonymous = await rest<Page<Post>>(app.url, 'GET', '/api/posts', { query: { q: word, authorId: user.id } });
    expect(anonymous.body.items.map((post) => post.id)).toEqual([created.body.id]);
    // "false" is false: a query string is not coerced with Boolean().
    const drafts = await rest<Page<Post>>(app.url, 'GET', '/api/posts', { token, query: { authorId: user.id, published: false, limit: 10, skip: 0 } });
    expect(drafts.body).toEqual({ items: [expect.objectContaining({ id: draft.body.id, published: false })], total: 1, totalIsLowerBound: false, nextCursor: null });
    const paged = await rest<Page<Post>>(app.url, 'GET', '/api/posts', { token, query: { authorId: user.id, limit: 1, skip: 1 } });
    expect(paged.body.total).toBe(2);
    expect(paged.body.items).toHaveLength(1);
    // An empty value is an absent one, as HTML forms send them.
    expect((await rest<Page<Post>>(app.url, 'GET', '/api/posts', { token, query: { authorId: user.id, q: '' } })).body.total).toBe(2);

    expect((await rest(app.url, 'GET', `/api/posts/${draft.body.id}`)).status).toBe(404);
    expect((await rest(app.url, 'GET', `/api/posts/${draft.body.id}`, { token })).status).toBe(200);
    const edited = await rest<Post>(app.url, 'PATCH', `/api/posts/${draft.body.id}`, { token, json: { published: true } });
    expect(edited).toMatchObject({ status: 200, body: { id: draft.body.id, published: true } });
    expect((await rest(app.url, 'DELETE', `/api/posts/${created.body.id}`, { token })).body).toEqual({ ok: true });
    expect((await rest(app.url, 'GET', `/api/posts/${created.body.id}`)).status).toBe(404);
  });

  it('runs a task submitted over REST and shows its typed result', async () => {
    const { token } = await registered();
    const submitted = await rest<{ id: string; status: string }>(app.url, 'POST', '/api/tasks', { token, json: { type: 'math.sum', input: { numbers: [1, 2, 3.5] } } });
    expect(submitted).toMatchObject({ status: 202, body: { status: 'queued' } });
    const deadline = Date.now() + 10_000;
    let task = await rest<{ status: string; result: unknown; createdAt: string }>(app.url, 'GET', `/api/tasks/${submitted.body.id}`, { token });
    while (task.body.status !== 'completed' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      task = await rest(app.url, 'GET', `/api/tasks/${submitted.body.id}`, { token });
    }
    expect(task.body).toMatchObject({ status: 'completed', result: { sum: 6.5 } });
    expect(task.body.createdAt).toMatch(ISO);
    const listed = await rest<Page<{ id: string }>>(app.url, 'GET', '/api/tasks', { token, query: { status: 'completed', type: 'math.sum' } });
    expect(listed.body.items.map((item) => item.id)).toContain(submitted.body.id);
  });

  it('takes API tokens as bearer tokens, but not where a session is required', async () => {
    const { token } = await registered();
    const created = await rest<{ token: string; prefix: string }>(app.url, 'POST', '/api/api-tokens', { token, json: { name: 'notebook' } });
    expect(created.status).toBe(201);
    expect((await rest(app.url, 'GET', '/api/auth/me', { token: created.body.token })).status).toBe(200);
    const refused = await rest<RestError>(app.url, 'GET', '/api/api-tokens', { token: created.body.token });
    expect(refused).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
  });

  it('answers bad input with the same clear 4xx JSON as /trpc: a stable code and per-field messages', async () => {
    const name = uniqueName('bad');
    const response = await rest<RestError>(app.url, 'POST', '/api/auth/register', { json: { username: 'x!', email: 'nope', password: 'short', extra: 1 } });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ code: 'BAD_REQUEST', requestId: expect.any(String) });
    expect(Object.keys(response.body.error.fieldErrors!).sort()).toEqual(['email', 'password', 'username']);
    expect(response.body.error.message).toMatch(/^Invalid input: \w+: /);
    expect(response.headers.get('x-request-id')).toBe(response.body.error.requestId);

    const viaTrpc = await trpcCall(app.url, 'auth.register', { input: { username: 'x!', email: 'nope', password: 'short', extra: 1 } });
    expect(viaTrpc.status).toBe(400);
    expect(viaTrpc.body.error!.data.fieldErrors).toEqual(response.body.error.fieldErrors);

    const query = await rest<RestError>(app.url, 'GET', '/api/posts', { query: { limit: 'ten', published: 'yes', skip: -1 } });
    expect(query.status).toBe(400);
    expect(Object.keys(query.body.error.fieldErrors!).sort()).toEqual(['limit', 'published', 'skip']);
    const repeated = await rest<RestError>(app.url, 'GET', '/api/posts', { query: { limit: [1, 2] } });
    expect(repeated.body.error.fieldErrors).toHaveProperty('limit');

    // Postgres cannot store NUL: refused as bad input on both dialects and both transports, never a 500.
    const { token } = await registered();
    const nul = await rest<RestError>(app.url, 'POST', '/api/posts', { token, json: { title: 'a\u0000b', body: '' } });
    expect(nul).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST', fieldErrors: { title: ['must not contain NUL characters'] } } } });
    expect((await rest<RestError>(app.url, 'GET', '/api/posts/%00')).status).toBe(400);
    expect((await trpcCall(app.url, 'auth.login', { input: { usernameOrEmail: 'x\u0000', password: 'p' } })).body.error!.data.fieldErrors).toEqual({ usernameOrEmail: ['must not contain NUL characters'] });

    const taken = await rest<RestError>(app.url, 'POST', '/api/auth/register', { json: { username: name, email: `${name}@example.com`, password: 'a long enough password' } });
    expect(taken.status).toBe(201);
    const again = await rest<RestError>(app.url, 'POST', '/api/auth/register', { json: { username: name, email: `other${name}@example.com`, password: 'a long enough password' } });
    expect(again).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT', fieldErrors: { username: [expect.any(String)] } } } });
  });

  it('refuses malformed requests with the right status and a JSON error', async () => {
    const { token } = await registered();
    const cases: [Promise<{ status: number; body: unknown }>, number, string][] = [
      [rest(app.url, 'GET', '/api/auth/me'), 401, 'UNAUTHORIZED'],
      [rest(app.url, 'GET', '/api/auth/me', { token: 'not-a-token' }), 401, 'UNAUTHORIZED'],
      [rest(app.url, 'GET', '/api/admin/stats', { token }), 403, 'FORBIDDEN'],
      [rest(app.url, 'GET', '/api/users/no-such-user'), 404, 'NOT_FOUND'],
      [rest(app.url, 'GET', '/api/no/such/route'), 404, 'NOT_FOUND'],
      [rest(app.url, 'PUT', '/api/posts'), 405, 'METHOD_NOT_SUPPORTED'],
      [rest(app.url, 'POST', '/api/posts', { token, raw: 'title=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [rest(app.url, 'POST', '/api/posts', { token, raw: '{"title":', headers: { 'content-type': 'application/json' } }), 400, 'BAD_REQUEST'],
      [rest(app.url, 'POST', '/api/posts', { token, json: ['a list'] }), 400, 'BAD_REQUEST'],
      [rest(app.url, 'POST', '/api/posts', { token, json: { title: 'big', body: 'x'.repeat(2 * 1024 * 1024) } }), 413, 'PAYLOAD_TOO_LARGE'],
      [rest(app.url, 'GET', '/api/posts/%E0%A4%A'), 400, 'BAD_REQUEST'],
      // Nested thousands deep: refused by validation, not a stack overflow on the way there.
      [rest(app.url, 'POST', '/api/auth/login', { raw: `{"usernameOrEmail":${'['.repeat(20_000)}${']'.repeat(20_000)},"password":"x"}`, headers: { 'content-type': 'application/json' } }), 400, 'BAD_REQUEST'],
    ];
    for (const [pending, status, code] of cases) {
      const response = await pending;
      expect({ status: response.status, code: (response.body as RestError).error.code }).toEqual({ status, code });
    }
    expect((await rest(app.url, 'PUT', '/api/posts')).headers.get('allow')).toBe('GET, HEAD, POST, OPTIONS');
    const options = await fetch(`${app.url}/api/posts/some-id`, { method: 'OPTIONS' });
    expect({ status: options.status, allow: options.headers.get('allow') }).toEqual({ status: 204, allow: 'GET, HEAD, PATCH, DELETE, OPTIONS' });
    const head = await fetch(`${app.url}/api/health`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    // JSON is UTF-8: a body declared in another charset is refused, not decoded.
    const latin1 = await rest<RestError>(app.url, 'POST', '/api/posts', { token, raw: '{"title":"caf\u00e9","body":""}', headers: { 'content-type': 'application/json; charset=latin1' } });
    expect(latin1.status).toBe(415);
    const utf8 = await rest(app.url, 'POST', '/api/posts', { token, raw: '{"title":"café","body":""}', headers: { 'content-type': 'application/json; charset=UTF-8' } });
    expect(utf8.status).toBe(201);
    // A bad escape in a path that matches nothing is a 404, not a 400.
    expect((await rest(app.url, 'GET', '/api/users/%E0/nothing')).status).toBe(404);
    // A POST that takes no input needs no body or content type.
    expect((await rest(app.url, 'POST', '/api/auth/logout', { token })).body).toEqual({ ok: true });
    expect((await rest(app.url, 'GET', '/api/auth/me', { token })).status).toBe(401);
  });

  it('routes /users/me before /users/{id}, and serves admins their own operations', async () => {
    const admin = await createUser(app.deps, { role: 'admin' });
    const { token } = await signIn(app.deps, admin);
    const updated = await rest<User & { fullName: string }>(app.url, 'PATCH', '/api/users/me', { token, json: { fullName: 'Ada Admin' } });
    expect(updated.body).toMatchObject({ id: admin.id, fullName: 'Ada Admin' });
    const other = await createUser(app.deps);
    expect((await rest(app.url, 'PUT', `/api/users/${other.id}/active`, { token, json: { isActive: false } })).body).toMatchObject({ isActive: false });
    expect((await rest(app.url, 'PUT', `/api/users/${other.id}/role`, { token, json: { role: 'admin' } })).body).toMatchObject({ role: 'admin' });
    const stats = await rest<{ users: { total: number }; tasks: Record<string, number> }>(app.url, 'GET', '/api/admin/stats', { token });
    expect(stats.status).toBe(200);
    expect(stats.body.tasks).toHaveProperty('queued');
    const list = await rest<Page<User>>(app.url, 'GET', '/api/users', { token, query: { q: other.username, isActive: false } });
    expect(list.body.items.map((user) => user.id)).toEqual([other.id]);
    const self = await createUser(app.deps);
    const own = await signIn(app.deps, self);
    expect((await rest(app.url, 'POST', '/api/users/me/delete', { token: own.token, json: { password: 'wrong password' } })).status).toBe(400);
    expect((await rest(app.url, 'POST', '/api/users/me/delete', { token: own.token, json: { password: TEST_PASSWORD } })).body).toEqual({ ok: true });
    expect((await rest(app.url, 'DELETE', `/api/users/${other.id}`, { token })).body).toEqual({ ok: true });
  });

  it('leaves /trpc as it was: no coercion of strings, dates still dates', async () => {
    const { token, user } = await registered();
    await rest(app.url, 'GET', '/api/posts', { query: { limit: '5', published: 'false', skip: '0' } });
    await rest(app.url, 'GET', `/api/users/${user.id}/profile`, { query: { postsLimit: '3' } });

    const stringLimit = await trpcCall(app.url, 'posts.list', { input: { limit: '5' }, mutation: false });
    expect(stringLimit.status).toBe(400);
    expect(stringLimit.body.error!.data.fieldErrors).toHaveProperty('limit');
    expect((await trpcCall(app.url, 'posts.list', { input: { published: 'false' }, mutation: false })).status).toBe(400);
    expect((await trpcCall(app.url, 'users.getWithPosts', { input: { id: user.id, postsLimit: '3' }, mutation: false })).status).toBe(400);
    const profile = await trpcCall(app.url, 'users.getWithPosts', { input: { id: user.id, postsLimit: 3 }, mutation: false });
    expect((profile.body.result!.data as { createdAt: unknown }).createdAt).toBeInstanceOf(Date);
    expect(token).toBeTruthy();
  });
});

describe.each(dialects)('the document and the docs page on %s', (dialect) => {
  const app = useTestServer(dialect, { env: { NODE_ENV: 'production' } });

  it('serves /openapi.json as generated from the routers', async () => {
    const response = await rest<{ openapi: string; info: { version: string } }>(app.url, 'GET', '/openapi.json');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.body).toEqual(JSON.parse(JSON.stringify(openApiDocument(restOperations(appRouter), app.deps.version))));
  });

  it('serves /docs and its assets from our own origin under a CSP without inline or third-party script', async () => {
    const page = await fetch(`${app.url}/docs`);
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/unsafe-eval|https?:/);
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script>(?!<\/script>)|<script [^>]*>[^<]/);
    for (const src of [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1])) {
      const asset = await fetch(`${app.url}${src}`);
      expect({ src, status: asset.status }).toEqual({ src, status: 200 });
      await asset.arrayBuffer();
    }
    const init = await (await fetch(`${app.url}/docs/init.js`)).text();
    expect(init).toContain("url: '/openapi.json'");
    expect(init).toContain('validatorUrl: null');
    expect((await fetch(`${app.url}/docs/assets/index.html`)).status).toBe(404);
    expect((await fetch(`${app.url}/docs/assets/../package.json`)).status).toBe(404);
  });

  it('answers an unexpected failure with a generic 500 in production: no stack, SQL or internal message', async () => {
    const crashing = router({
      crash: publicProcedure
        .meta({ rest: { method: 'GET', path: '/crash', summary: 'crash' } })
        .output(z.object({ ok: z.boolean() }))
        .query(() => {
          throw new Error('select password_hash from users where id = $1 at /srv/app/db.ts:42');
        }),
    });
    const mini = express();
    mini.use(requestContext(app.deps.logger));
    mini.use('/api', createRestHandler({ router: crashing, operations: restOperations(crashing), createContext: createHttpContext(app.deps), bodyLimit: 1024 }));
    const { server, url } = await listen(mini, '127.0.0.1', 0);
    try {
      const response = await rest<RestError>(url, 'GET', '/api/crash');
      expect(response.status).toBe(500);
      expect(response.body).toEqual({ error: { code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error', requestId: expect.any(String) } });
    } finally {
      await drain(server, 1000);
    }
  });
});

describe.each(dialects)('REST request logs on %s', (dialect) => {
  const logs = captureLogs('info');
  const app = useTestServer(dialect, { logger: logs.logger });

  it('name the procedure a route ran, and never the query string or the token', async () => {
    const { token } = await signIn(app.deps, await createUser(app.deps));
    await rest(app.url, 'GET', '/api/posts', { token, query: { q: 'secret search' } });
    const line = logs.lines.find((entry) => entry.msg === 'request' && entry.path === '/api/posts');
    expect(line).toMatchObject({ method: 'GET', procedure: 'posts.list', status: 200 });
    expect(JSON.stringify(logs.lines)).not.toContain('secret search');
    expect(JSON.stringify(logs.lines)).not.toContain(token);
  });
});

describe('REST rate limits', () => {
  const app = useTestServer('sqlite', { env: { RATE_LIMIT_LOGIN_PER_MINUTE: '2' } });

  it('spends the same per-IP budgets as /trpc and says when to retry', async () => {
    const login = () => rest<RestError>(app.url, 'POST', '/api/auth/login', { json: { usernameOrEmail: 'nobody', password: 'wrong' } });
    expect((await login()).status).toBe(401);
    const viaTrpc = await trpcCall(app.url, 'auth.login', { input: { usernameOrEmail: 'nobody', password: 'wrong' } });
    expect(viaTrpc.status).toBe(401);
    const limited = await login();
    expect(limited.status).toBe(429);
    expect(limited.body.error).toMatchObject({ code: 'TOO_MANY_REQUESTS', retryAfterSeconds: expect.any(Number) });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
