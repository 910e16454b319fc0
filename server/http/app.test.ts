// The HTTP surface on both dialects: hardening headers, limits, request ids, probes and malformed requests.
import { gunzipSync, brotliDecompressSync } from 'node:zlib';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase } from '../testing/database.ts';
import { closeDeps, type Deps } from '../deps.ts';
import { captureLogs, createTestDeps, dialects, startTestServer, type TestServer } from '../testing/harness.ts';

/** Raw HTTP, for what fetch cannot send (a Host header of our choosing, undecoded bodies). */
function raw(url: string, options: { method?: string; path: string; headers?: Record<string, string>; body?: string }) {
  const { hostname, port } = new URL(url);
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolve, reject) => {
    const req = httpRequest({ hostname, port, method: options.method ?? 'GET', path: options.path, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const trpcError = async (response: Response) => ((await response.json()) as { error: { json: { message: string; data: { code: string } } } }).error.json;

describe.each(dialects)('HTTP app on %s', (dialect) => {
  const { logger, lines } = captureLogs();
  let deps: Deps;
  let server: TestServer;
  let url: string;
  beforeAll(async () => {
    deps = await createTestDeps(dialect, {
      env: { CORS_ORIGINS: 'https://app.example.com', BODY_LIMIT: '16kb', TRPC_MAX_BATCH_SIZE: '50' },
      logger,
    });
    server = await startTestServer(deps);
    url = server.url;
  });
  afterAll(async () => {
    await server.close();
    await closeDeps(deps);
  });

  it('serves health.check over tRPC with superjson', async () => {
    const response = await fetch(`${url}/trpc/health.check`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { result: { data: { json: Record<string, unknown> } } };
    expect(body.result.data.json).toMatchObject({ status: 'ok', dialect, version: expect.any(String) });
    expect(body.result.data.json.uptimeSeconds).toBeGreaterThanOrEqual(0);
  });

  it('sends a small tRPC answer in one piece: Content-Length, no chunked framing, uncompressed', async () => {
    const response = await raw(url, { path: '/trpc/health.check', headers: { 'accept-encoding': 'gzip, br' } });
    expect(response.status).toBe(200);
    expect(response.headers['transfer-encoding']).toBeUndefined();
    expect(response.headers['content-encoding']).toBeUndefined();
    expect(Number(response.headers['content-length'])).toBe(response.body.length);
  });

  it('answers the liveness and readiness probes', async () => {
    expect(await (await fetch(`${url}/health/live`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ok' });
  });

  it('sends hardening headers and no X-Powered-By', async () => {
    const response = await fetch(`${url}/trpc/health.check`);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('content-security-policy')).toBe("default-src 'none';frame-ancestors 'none'");
    expect(response.headers.get('x-powered-by')).toBeNull();
    // HSTS only in production (see the production test below)
    expect(response.headers.get('strict-transport-security')).toBeNull();
  });

  it('allows CORS, with credentials, only for listed origins', async () => {
    const listed = await fetch(`${url}/trpc/health.check`, { headers: { origin: 'https://app.example.com' } });
    expect(listed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(listed.headers.get('access-control-allow-credentials')).toBe('true');
    expect(listed.headers.get('access-control-expose-headers')).toBe('RateLimit-Limit,RateLimit-Remaining,RateLimit-Reset,Retry-After,X-Request-Id');
    const other = await fetch(`${url}/trpc/health.check`, { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(other.headers.get('access-control-allow-credentials')).toBeNull();
    const preflight = await fetch(`${url}/trpc/health.check`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,idempotency-key' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('content-type,idempotency-key');
  });

  it('accepts a sane X-Request-Id, replaces an insane one, and echoes it', async () => {
    const given = await fetch(`${url}/health/live`, { headers: { 'x-request-id': 'abc-123.DEF:9' } });
    expect(given.headers.get('x-request-id')).toBe('abc-123.DEF:9');
    const insane = await fetch(`${url}/health/live`, { headers: { 'x-request-id': 'x'.repeat(300) } });
    expect(insane.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const generated = await fetch(`${url}/health/live`);
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('compresses responses over 1 KB with brotli or gzip, and leaves small ones alone', async () => {
    const batch = Array.from({ length: 30 }, () => 'health.check').join(',');
    const brotli = await raw(url, { path: `/trpc/${batch}?batch=1`, headers: { 'accept-encoding': 'br' } });
    expect(brotli.headers['content-encoding']).toBe('br');
    expect(JSON.parse(brotliDecompressSync(brotli.body).toString())).toHaveLength(30);
    const gzip = await raw(url, { path: `/trpc/${batch}?batch=1`, headers: { 'accept-encoding': 'gzip' } });
    expect(gzip.headers['content-encoding']).toBe('gzip');
    expect(JSON.parse(gunzipSync(gzip.body).toString())).toHaveLength(30);
    const small = await raw(url, { path: '/trpc/health.check', headers: { 'accept-encoding': 'gzip, br' } });
    expect(small.headers['content-encoding']).toBeUndefined();
    // Compressed or not, the answer says it varies with the coding asked for, and carries its length.
    for (const response of [brotli, gzip, small]) {
      expect(response.headers.vary).toMatch(/accept-encoding/i);
      expect(Number(response.headers['content-length'])).toBe(response.body.length);
    }
    const plain = await raw(url, { path: `/trpc/${batch}?batch=1` });
    expect(plain.headers['content-encoding']).toBeUndefined();
    // The same answers as the compressed one, but for the uptime, which can tick over between the two requests.
    const answers = (body: Buffer) => JSON.parse(body.toString().replaceAll(/"uptimeSeconds":\d+/g, '"uptimeSeconds":0')) as unknown;
    expect(answers(plain.body)).toEqual(answers(gunzipSync(gzip.body)));
    expect(plain.body.toString()).toMatch(/"uptimeSeconds":\d+/);
  });

  it('compresses REST answers over 1 KB too, and the documents the middleware serves', async () => {
    const name = `squeeze_${dialect}`;
    const registered = await fetch(`${url}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: name, email: `${name}@example.com`, password: 'a long enough password' }),
    });
    const { token } = (await registered.json()) as { token: string };
    const created = await fetch(`${url}/api/posts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ title: 'A long one', body: 'words and more words '.repeat(200), published: true }),
    });
    const { id } = (await created.json()) as { id: string };
    const brotli = await raw(url, { path: `/api/posts/${id}`, headers: { 'accept-encoding': 'br;q=0.9, gzip;q=0.5' } });
    expect(brotli.status).toBe(200);
    expect(brotli.headers['content-encoding']).toBe('br');
    expect(brotli.headers.vary).toMatch(/accept-encoding/i);
    const plain = await raw(url, { path: `/api/posts/${id}` });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(Number(plain.headers['content-length'])).toBe(plain.body.length);
    expect(JSON.parse(brotliDecompressSync(brotli.body).toString())).toEqual(JSON.parse(plain.body.toString()));
    // Small REST answers stay as they are.
    expect((await raw(url, { path: '/api/health', headers: { 'accept-encoding': 'gzip' } })).headers['content-encoding']).toBeUndefined();
    // The OpenAPI document still goes through the compression middleware.
    expect((await raw(url, { path: '/openapi.json', headers: { 'accept-encoding': 'gzip' } })).headers['content-encoding']).toBe('gzip');
  });

  it('limits batches to 50 calls, also for paths of bare commas', async () => {
    const fifty = Array.from({ length: 50 }, () => 'health.check').join(',');
    expect((await fetch(`${url}/trpc/${fifty}?batch=1`)).status).toBe(200);
    const tooMany = await fetch(`${url}/trpc/${fifty},health.check?batch=1`);
    expect(tooMany.status).toBe(400);
    expect((await trpcError(tooMany)).message).toMatch(/batch/i);
    expect((await fetch(`${url}/trpc/${','.repeat(60)}?batch=1`)).status).toBe(400);
    expect((await fetch(`${url}/trpc/${','.repeat(5000)}?batch=1`)).status).toBe(400);
  });

  it('rejects mutations whose body is not JSON with a 415', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream']) {
      const response = await fetch(`${url}/trpc/health.check`, { method: 'POST', headers: { 'content-type': type }, body: 'a=b' });
      expect(response.status, type).toBe(415);
      expect((await trpcError(response)).data.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    }
    expect((await fetch(`${url}/trpc/health.check`, { method: 'POST', body: '{}' })).status).toBe(415);
  });

  it('answers every malformed request with its 4xx and a JSON error, never a 500', async () => {
    const cases: { name: string; run: () => Promise<Response>; status: number }[] = [
      { name: 'invalid JSON body (the method is checked first)', status: 405, run: () => fetch(`${url}/trpc/health.check`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"json":' }) },
      { name: 'query over POST', status: 405, run: () => fetch(`${url}/trpc/health.check`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }) },
      { name: 'PUT', status: 405, run: () => fetch(`${url}/trpc/health.check`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' }) },
      { name: 'unknown procedure', status: 404, run: () => fetch(`${url}/trpc/nope.nothing`) },
      { name: 'bad input query string', status: 400, run: () => fetch(`${url}/trpc/health.check?input=%7Bnot-json`) },
      { name: 'input where none is taken', status: 400, run: () => fetch(`${url}/trpc/health.check?input=${encodeURIComponent(JSON.stringify({ json: { a: 1 } }))}`) },
      { name: 'batch input not an object', status: 400, run: () => fetch(`${url}/trpc/health.check?batch=1&input=5`) },
      { name: 'bad URL encoding', status: 400, run: () => fetch(`${url}/trpc/%E0%A4%A`) },
      { name: 'oversize body', status: 413, run: () => fetch(`${url}/trpc/health.check`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ json: 'x'.repeat(20_000) }) }) },
      { name: 'unknown route', status: 404, run: () => fetch(`${url}/nothing/here`) },
    ];
    for (const { name, run, status } of cases) {
      const response = await run();
      expect(response.status, name).toBe(status);
      expect(response.headers.get('content-type'), name).toMatch(/application\/json/);
      const text = await response.text();
      expect(() => JSON.parse(text), name).not.toThrow();
      expect(text, name).not.toMatch(/\n\s+at |node_modules/);
    }
  });

  it('writes one log line per request: id, method, path without query, procedure, status, duration', async () => {
    await fetch(`${url}/trpc/health.check?input=${encodeURIComponent('{"secret":"x"}')}`, { headers: { 'x-request-id': 'log-line-test' } });
    // The line is written when the response finishes, which can be just after the client has it.
    const find = () => lines.find((entry) => entry.reqId === 'log-line-test' && entry.msg === 'request');
    await expect.poll(find).toBeDefined();
    const line = find();
    expect(line).toMatchObject({ method: 'GET', path: '/trpc/health.check', procedure: 'health.check', status: 200 });
    expect(line?.durationMs).toEqual(expect.any(Number));
    expect(JSON.stringify(lines)).not.toContain('secret');
  });

  it('turns readiness to 503 and asks clients to close connections while shutting down', async () => {
    server.lifecycle.shuttingDown = true;
    try {
      const ready = await fetch(`${url}/health/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'unavailable', reason: 'shutting down' });
      expect(ready.headers.get('connection')).toBe('close');
    } finally {
      server.lifecycle.shuttingDown = false;
    }
  });
});

describe.each(dialects)('readiness on %s', (dialect) => {
  it('is 503 with a reason when the database stops answering', async () => {
    const deps = await createTestDeps(dialect);
    const server = await startTestServer(deps);
    try {
      await deps.db.close();
      const response = await fetch(`${server.url}/health/ready`);
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({ status: 'unavailable', reason: 'database unreachable' });
      expect((await fetch(`${server.url}/health/live`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe.each(dialects)('HTTP start-up states on %s', (dialect) => {
  it('is not ready while migrations are pending (MIGRATE_ON_START=false)', async () => {
    const db = await openTestDatabase(dialect, { migrated: false });
    const base = await createTestDeps(dialect);
    await base.db.close();
    const deps: Deps = { ...base, db };
    const server = await startTestServer(deps);
    try {
      const response = await fetch(`${server.url}/health/ready`);
      expect(response.status).toBe(503);
      expect(((await response.json()) as { reason: string }).reason).toMatch(/migration\(s\) pending/);
      await db.migrate();
      expect((await fetch(`${server.url}/health/ready`)).status).toBe(200);
    } finally {
      await server.close();
      await closeDeps(deps);
    }
  });

});

describe('HTTP host and proxy settings', () => {
  it('refuses other Host headers when TRUSTED_HOSTS is set (probes excepted), and sends HSTS in production', async () => {
    const deps = await createTestDeps('sqlite', { env: { TRUSTED_HOSTS: 'api.example.com,127.0.0.1', NODE_ENV: 'production' } });
    const server = await startTestServer(deps);
    try {
      const trusted = await raw(server.url, { path: '/trpc/health.check', headers: { host: 'api.example.com' } });
      expect(trusted.status).toBe(200);
      expect(trusted.headers['strict-transport-security']).toMatch(/max-age=31536000/);
      // Load balancers and container probes address the process by IP.
      expect((await raw(server.url, { path: '/health/ready', headers: { host: '10.0.3.17:3000' } })).status).toBe(200);
      const untrusted = await raw(server.url, { path: '/trpc/health.check', headers: { host: 'evil.example' } });
      expect(untrusted.status).toBe(400);
      expect(JSON.parse(untrusted.body.toString()).error.json.message).toBe('host not allowed');
    } finally {
      await server.close();
      await closeDeps(deps);
    }
  });

  it.each([
    ['false', '127.0.0.1'],
    ['loopback', '203.0.113.7'],
    ['10.0.0.0/8', '127.0.0.1'],
    ['1', '203.0.113.7'],
  ])('with TRUST_PROXY=%s takes the client address to be %s', async (trustProxy, expected) => {
    const { logger, lines } = captureLogs();
    const deps = await createTestDeps('sqlite', { env: { TRUST_PROXY: trustProxy }, logger });
    const server = await startTestServer(deps);
    try {
      await fetch(`${server.url}/health/live`, { headers: { 'x-forwarded-for': '203.0.113.7', 'x-request-id': 'proxy-test' } });
      await expect.poll(() => lines.find((line) => line.reqId === 'proxy-test')?.ip).toBe(expected);
    } finally {
      await server.close();
      await closeDeps(deps);
    }
  });
});
