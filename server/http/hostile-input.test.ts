// Hostile input on every transport: superjson metadata no client of ours sends (an input that contains itself,
// unknown types) and text that is not Unicode (lone surrogates) are a quick 400, never a hang, a crash or a 500.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import superjson from 'superjson';
import { afterAll, describe, expect, it } from 'vitest';
import { openTestDatabase } from '../testing/database.ts';
import { signedInUser } from '../testing/factories.ts';
import { dialects, useTestServer } from '../testing/harness.ts';
import { rest, trpcCall } from '../testing/http.ts';
import { startNode, type LogLine } from '../testing/processes.ts';
import type { RestError } from '../rest/handler.ts';

/** The request of the report: `a.b` is made the same object as `a`, so the input contains itself. */
const selfReference = { json: { id: 'x', a: {} }, meta: { referentialEqualities: { a: ['a.b'] } } };
const selfReferentialLogin = { json: { usernameOrEmail: 'x', password: 'y', a: {} }, meta: { referentialEqualities: { a: ['a.b'] } } };

type Attack = { name: string; request: (url: string) => Promise<Response> };

const encoded = (value: unknown) => encodeURIComponent(JSON.stringify(value));
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
const get = (url: string, headers: Record<string, string> = {}) => fetch(url, { headers, signal: AbortSignal.timeout(30_000) });

const attacks: Attack[] = [
  { name: 'GET', request: (url) => get(`${url}/trpc/posts.get?input=${encoded(selfReference)}`) },
  { name: 'GET, batched', request: (url) => get(`${url}/trpc/posts.get,posts.get?batch=1&input=${encoded({ 0: selfReference, 1: selfReference })}`) },
  { name: 'POST', request: (url) => post(`${url}/trpc/auth.login`, selfReferentialLogin) },
  { name: 'POST, batched', request: (url) => post(`${url}/trpc/auth.login,auth.login?batch=1`, { 0: selfReferentialLogin, 1: selfReferentialLogin }) },
  // Streaming requests go through tRPC's own adapter, which decodes input with the same transformer.
  { name: 'GET, streamed', request: (url) => get(`${url}/trpc/posts.get?batch=1&input=${encoded({ 0: selfReference })}`, { 'trpc-accept': 'application/jsonl' }) },
];

type Target = { name: string; skip: boolean; open: () => Promise<{ url: string; close: () => Promise<void> }> };
const dir = mkdtempSync(join(tmpdir(), 'hostile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const targets: Target[] = [
  { name: 'sqlite', skip: false, open: async () => ({ url: `file:${join(dir, `app-${++files}.db`)}`, close: async () => {} }) },
  {
    // A second process cannot open the test's PGlite: this needs a Postgres server (CI always has one).
    name: 'postgres',
    skip: !process.env.TEST_DATABASE_URL,
    open: async () => {
      const db = await openTestDatabase('postgres');
      return { url: db.source.kind === 'postgres' ? db.source.url : '', close: () => db.close() };
    },
  },
];

// A real process: an input that loops the server blocks its event loop, which an in-process test could not survive.
describe.each(targets)('an input that contains itself, against the API process on $name', (target) => {
  it.skipIf(target.skip)('is a quick 400 on GET and POST, batched or not, and the process keeps serving', { timeout: 300_000 }, async () => {
    const database = await target.open();
    try {
      const api = startNode('server/main.ts', {
        DATABASE_URL: database.url,
        PORT: '0',
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        WORKER_IN_PROCESS: 'false',
        OUTBOX_DIR: join(dir, 'outbox'),
        RATE_LIMIT_GLOBAL_PER_MINUTE: '100000',
        RATE_LIMIT_LOGIN_PER_MINUTE: '100000',
      });
      // Starting takes a while on a busy machine (PGlite beside SQLite): only the answers to the attack are bounded.
      const { url } = (await api.waitFor('listening')) as LogLine & { url: string };
      for (const attack of attacks) {
        const response = await attack.request(url);
        const text = await response.text();
        expect({ attack: attack.name, status: response.status }).toEqual({ attack: attack.name, status: attack.name === 'GET, streamed' ? 200 : 400 });
        expect(text).toContain('referentialEqualities');
        expect(text).not.toMatch(/"stack"/);
      }
      // Twenty at once: still answered, and the probes with them.
      const many = await Promise.all(Array.from({ length: 20 }, () => attacks[0].request(url)));
      expect(many.map((response) => response.status)).toEqual(Array(20).fill(400));
      expect((await get(`${url}/health/live`)).status).toBe(200);
      expect((await get(`${url}/health/ready`)).status).toBe(200);
      expect(api.child.exitCode).toBeNull();
      api.child.kill('SIGTERM');
      expect(await api.exited).toBe(0);
    } finally {
      await database.close();
    }
  });
});

describe.each(dialects)('hostile input on %s', (dialect) => {
  const app = useTestServer(dialect);

  it('refuses superjson types no input takes, with a 400 that names the type', async () => {
    const cases: [string, unknown][] = [
      ['map', { json: { id: [['k', 'v']] }, meta: { values: { id: ['map'] } } }],
      ['set', { json: { id: ['x'] }, meta: { values: { id: ['set'] } } }],
      ['regexp', { json: { id: '/a/' }, meta: { values: { id: ['regexp'] } } }],
      ['class', { json: { id: {} }, meta: { values: { id: [['class', 'Foo']] } } }],
      ['custom', { json: { id: 'x' }, meta: { values: { id: [['custom', 'decimal.js']] } } }],
      ['bigint', { json: { id: '1' }, meta: { values: { id: ['bigint'] } } }],
      ['nonsense', { json: { id: 'x' }, meta: { values: { id: ['nonsense'] } } }],
      ['nested set', { json: { id: 'x', deep: { list: ['a'] } }, meta: { values: { deep: { list: ['set'] } } } }],
    ];
    for (const [type, envelope] of cases) {
      const viaGet = await get(`${app.url}/trpc/posts.get?input=${encoded(envelope)}`);
      const body = (await viaGet.json()) as { error: { json: { message: string; data: { code: string } } } };
      expect({ type, status: viaGet.status, code: body.error.json.data.code }).toEqual({ type, status: 400, code: 'BAD_REQUEST' });
      expect(body.error.json.message).toMatch(/superjson type/);
      const viaPost = await post(`${app.url}/trpc/auth.login,auth.login?batch=1`, { 0: envelope, 1: envelope });
      expect(viaPost.status).toBe(400);
    }
    // What our SDK sends still works: undefined fields, dates, numbers; and an input that shares an object, sent in full.
    const shared = { text: 'x' };
    const serialized = superjson.serialize({ id: 'no-such-post', a: shared, b: shared, gone: undefined });
    const { referentialEqualities: _dropped, ...meta } = serialized.meta!;
    const ours = await get(`${app.url}/trpc/posts.get?input=${encoded({ json: serialized.json, meta })}`);
    expect(ours.status).toBe(404);
  });

  it('refuses lone surrogates in strings and keys as a per-field 400, on /trpc and /api', async () => {
    const { token } = await signedInUser(app.deps);
    const message = 'must be valid Unicode text (no lone UTF-16 surrogates)';
    const auth = { authorization: `Bearer ${token}` };
    for (const text of ['\ud800', 'a\udfffb', 'ok \ud83d']) {
      const viaTrpc = await trpcCall(app.url, 'tasks.submit', { input: { type: 'text.analyze', input: { text } }, headers: auth });
      expect(viaTrpc.status).toBe(400);
      expect(viaTrpc.body.error!.data.fieldErrors).toEqual({ 'input.text': [message] });
      const viaRest = await rest<RestError>(app.url, 'POST', '/api/tasks', { token, json: { type: 'text.analyze', input: { text } } });
      expect(viaRest).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST', fieldErrors: { 'input.text': [message] } } } });
    }
    // A key: refused where it is, even where the schema would strip it.
    const key = await rest<RestError>(app.url, 'POST', '/api/posts', { token, json: { title: 't', body: '', ['x\ud800']: 1 } });
    expect(key).toMatchObject({ status: 400, body: { error: { fieldErrors: { 'x\ud800': [message] } } } });
    const keyTrpc = await trpcCall(app.url, 'posts.create', { input: { title: 't', body: '', ['x\udc00']: 1 }, headers: auth });
    expect(keyTrpc.body.error!.data.fieldErrors).toEqual({ 'x\udc00': [message] });
    // A GET query and a batch.
    const query = await trpcCall(app.url, 'posts.list', { input: { q: '\ud800' }, mutation: false });
    expect(query.body.error!.data.fieldErrors).toEqual({ q: [message] });
    const restQuery = await rest<RestError>(app.url, 'GET', '/api/posts', { query: { q: 'a\ud800' } });
    // URLs carry UTF-8, in which a lone surrogate cannot be written: it arrives as U+FFFD, which is fine text.
    expect(restQuery.status).toBe(200);
    // Well-formed pairs (emoji) are text like any other.
    const emoji = await rest<{ id: string }>(app.url, 'POST', '/api/posts', { token, json: { title: 'ok 😀', body: '𝄞' } });
    expect(emoji.status).toBe(201);
  });
});
