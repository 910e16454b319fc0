// /metrics over real HTTP: who may scrape, what a scrape holds (and never holds), and one exporter of queue depth.
import { afterAll, describe, expect, it } from 'vitest';
import { createMetrics } from '../metrics.ts';
import { callerFor, dialects, failure, startTestServer, useTestDeps, type TestServer } from '../testing/harness.ts';
import { uniqueName } from '../testing/factories.ts';

const TOKEN = 'metrics-token-for-tests-0123456789';

async function scrape(server: TestServer, token = TOKEN): Promise<string> {
  const response = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return response.text();
}

/** The value of one sample, e.g. `job_queue_jobs{queue="email.welcome",state="queued"}`; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (wanted.every((pair) => labelText.split(',').includes(pair))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('/metrics without METRICS_TOKEN', () => {
  const deps = useTestDeps('sqlite');
  it('is not served at all', async () => {
    const server = await startTestServer(deps.current);
    try {
      expect((await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});

describe.each(dialects)('/metrics on %s', (dialect) => {
  const deps = useTestDeps(dialect, { env: { METRICS_TOKEN: TOKEN } });
  let server: TestServer;
  afterAll(() => server?.close());

  it('refuses a scrape without the bearer token, or with another', async () => {
    server = await startTestServer(deps.current);
    for (const authorization of [undefined, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, `Basic ${TOKEN}`, TOKEN]) {
      const response = await fetch(`${server.url}/metrics`, { headers: authorization ? { authorization } : {} });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await response.text()).not.toContain('trpc_procedure');
    }
  });

  it('times procedures by path, type and result code, and never labels inputs or users', async () => {
    server ??= await startTestServer(deps.current);
    const email = `${uniqueName('metrics')}@example.com`;
    await fetch(`${server.url}/trpc/health.check`);
    const register = await fetch(`${server.url}/trpc/auth.register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ json: { email, username: uniqueName('m'), password: 'correct horse battery staple' } }),
    });
    expect(register.status).toBe(200);
    // Bad input through createCaller counts as well: the histogram sits on the procedure, not on HTTP.
    expect((await failure(callerFor(deps.current).auth.login({ usernameOrEmail: '', password: '' }))).code).toBe('BAD_REQUEST');

    const text = await scrape(server);
    expect(sample(text, 'trpc_procedure_duration_seconds_count', { path: 'health.check', type: 'query', code: 'OK' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'trpc_procedure_duration_seconds_count', { path: 'auth.register', type: 'mutation', code: 'OK' })).toBe(1);
    expect(sample(text, 'trpc_procedure_duration_seconds_count', { path: 'auth.login', type: 'mutation', code: 'BAD_REQUEST' })).toBe(1);
    expect(sample(text, 'trpc_procedure_duration_seconds_bucket', { path: 'auth.register', code: 'OK', le: '+Inf' })).toBe(1);
    expect(text).not.toContain(email);
    expect(text).not.toMatch(/user_?id/i);
    // Default process metrics: event-loop lag, heap, GC.
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes /m);
    expect(text).toContain('# TYPE nodejs_gc_duration_seconds histogram');
    if (dialect === 'postgres' && deps.current.db.source.kind === 'postgres') {
      expect(sample(text, 'db_pool_connections', { state: 'total' })).toBeGreaterThanOrEqual(1);
    }
  });

  it('exports queue depth per queue and state, and job durations once jobs run', async () => {
    server ??= await startTestServer(deps.current);
    // The registration above enqueued a welcome e-mail; nothing works the queues in this process.
    await expect
      .poll(async () => sample(await scrape(server), 'job_queue_jobs', { queue: 'email.welcome', state: 'queued' }))
      .toBeGreaterThanOrEqual(1);
    const text = await scrape(server);
    expect(sample(text, 'job_queue_jobs', { queue: 'email.welcome', state: 'active' })).toBe(0);
    expect(sample(text, 'job_queue_jobs', { queue: 'email.welcome', state: 'failed' })).toBe(0);
    // Sent (in the transaction, or by the relay right after the commit): nothing waits in the job outbox.
    expect(text).toMatch(/^job_outbox_rows{database="app"} 0$/m);
    expect(text).toMatch(/^job_outbox_oldest_age_seconds{database="app"} 0$/m);

    await deps.current.queue.work(deps.current);
    await expect
      .poll(async () => sample(await scrape(server), 'job_duration_seconds_count', { queue: 'email.welcome', outcome: 'completed' }))
      .toBeGreaterThanOrEqual(1);
    expect(sample(await scrape(server), 'job_queue_jobs', { queue: 'email.welcome', state: 'queued' })).toBe(0);
  });

  it('has queue depth exported by one process of a deployment, and another take over when it goes', async () => {
    const { config, logger, db, queue } = deps.current;
    const source = db.source;
    // Another process of the same deployment: same queue database. (PGlite is one process by nature: it exports.)
    const queueUrl = source.kind === 'postgres' ? source.url : null;
    const other = createMetrics({ config, logger, db, queue, queueUrl });
    try {
      const depth = async (text: Promise<string>) => sample(await text, 'job_queue_jobs', { queue: 'email.welcome', state: 'queued' });
      expect(await depth(scrape(server))).toBe(0);
      if (!queueUrl) return expect(await depth(other.registry.metrics())).toBe(0);
      expect(await depth(other.registry.metrics())).toBeUndefined();
      expect(await other.registry.metrics()).not.toMatch(/^job_outbox_rows/m);
      // The exporting process goes away (its lock with its connection): the next scrape elsewhere takes over.
      await deps.current.metrics.close();
      expect(await depth(other.registry.metrics())).toBe(0);
    } finally {
      await other.close();
    }
  });
});
