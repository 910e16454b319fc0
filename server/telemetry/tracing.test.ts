// The API as a real process with tracing on, on both databases: one trace from the HTTP request through the
// procedure and its queries to the job it enqueued; OTLP export to a collector; and a graceful shutdown that
// lets a slow request finish, exits 0 and flushes the spans on the way out.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openTestDatabase } from '../testing/database.ts';
import { TEST_PASSWORD, uniqueName } from '../testing/factories.ts';
import { PRELOAD, startNode, type LogLine } from '../testing/processes.ts';
import type { RecordedSpan } from '../testing/record-spans.ts';

const SPAN_KIND = { server: 1, producer: 3, consumer: 4 } as const;

type Target = { name: string; skip: boolean; open: () => Promise<{ url: string; close: () => Promise<void> }> };
const dir = mkdtempSync(join(tmpdir(), 'tracing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const targets: Target[] = [
  {
    name: 'sqlite (the embedded default, jobs on PGlite)',
    skip: false,
    open: async () => ({ url: `file:${join(dir, `app-${++files}.db`)}`, close: async () => {} }),
  },
  {
    // A second process cannot open the test's PGlite: this needs a Postgres server (CI always has one).
    name: 'postgres (TEST_DATABASE_URL, jobs in the same database)',
    skip: !process.env.TEST_DATABASE_URL,
    open: async () => {
      const db = await openTestDatabase('postgres');
      return { url: db.source.kind === 'postgres' ? db.source.url : '', close: () => db.close() };
    },
  },
];

const registration = () => ({ email: `${uniqueName('trace')}@example.com`, username: uniqueName('t'), password: TEST_PASSWORD });

function startApi(databaseUrl: string, env: Record<string, string>, nodeArgs: string[]) {
  return startNode(
    'server/main.ts',
    {
      DATABASE_URL: databaseUrl,
      PORT: '0',
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      WORKER_IN_PROCESS: 'true',
      QUEUE_POLLING_INTERVAL_SECONDS: '0.5',
      OUTBOX_DIR: join(dir, 'outbox'),
      RATE_LIMIT_GLOBAL_PER_MINUTE: '100000',
      RATE_LIMIT_REGISTER_PER_MINUTE: '100000',
      ...env,
    },
    nodeArgs,
  );
}

const postBatch = (url: string, procedure: string, inputs: unknown[]) =>
  fetch(`${url}/trpc/${Array(inputs.length).fill(procedure).join(',')}?batch=1`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(Object.fromEntries(inputs.map((input, index) => [index, { json: input }]))),
  });

describe.each(targets)('tracing on $name', (target) => {
  it.skipIf(target.skip)('follows one trace from the request through the procedure and its queries to the job it enqueued', async () => {
    const database = await target.open();
    const spansFile = join(dir, `spans-${++files}.json`);
    try {
      const api = startApi(database.url, { SPANS_FILE: spansFile }, [...PRELOAD, '--import', './server/testing/record-spans.ts']);
      const { url } = (await api.waitFor('listening')) as LogLine & { url: string };
      const account = registration();
      expect((await postBatch(url, 'auth.register', [account])).status).toBe(200);
      // Two calls in one batched request: a span each.
      expect((await fetch(`${url}/trpc/health.check,health.check?batch=1&input={}`)).status).toBe(200);
      const mailed = await api.waitFor('e-mail written to the outbox (SMTP_URL is not set)');
      api.child.kill('SIGTERM');
      expect(await api.exited).toBe(0);

      const spans = JSON.parse(readFileSync(spansFile, 'utf8')) as RecordedSpan[];
      const byId = new Map(spans.map((span) => [span.spanId, span]));
      const within = (span: RecordedSpan, ancestor: RecordedSpan): boolean => {
        for (let at = byId.get(span.parentSpanId ?? ''); at; at = byId.get(at.parentSpanId ?? '')) if (at === ancestor) return true;
        return false;
      };
      const path = (span: RecordedSpan) => {
        const value = span.attributes['url.path'] ?? span.attributes['http.target'];
        return typeof value === 'string' ? value : '';
      };

      const request = spans.find((span) => span.kind === SPAN_KIND.server && path(span).startsWith('/trpc/auth.register'));
      const procedure = spans.find((span) => span.name === 'trpc auth.register');
      expect(request).toBeDefined();
      expect(procedure?.parentSpanId).toBe(request?.spanId);
      if (!request || !procedure) return;
      expect(procedure.traceId).toBe(request.traceId);

      if (target.name.startsWith('postgres')) {
        const queries = spans.filter((span) => within(span, procedure) && (span.attributes['db.system'] ?? span.attributes['db.system.name']) === 'postgresql');
        expect(queries.length).toBeGreaterThan(0);
        expect(queries.map((span) => String(span.attributes['db.statement'] ?? span.attributes['db.query.text']))).toEqual(expect.arrayContaining([expect.stringMatching(/^insert into "users"/i)]));
      }
      const send = spans.find((span) => span.kind === SPAN_KIND.producer && span.name.endsWith('email.welcome'));
      expect(send && within(send, procedure)).toBe(true);
      const processing = spans.find((span) => span.kind === SPAN_KIND.consumer && span.name === 'process email.welcome');
      expect(processing?.traceId).toBe(request.traceId);
      const job = spans.find((span) => span.name === 'job email.welcome');
      expect(job?.parentSpanId).toBe(processing?.spanId);

      const healthChecks = spans.filter((span) => span.name === 'trpc health.check');
      expect(healthChecks).toHaveLength(2);
      expect(healthChecks[0].parentSpanId).toBe(healthChecks[1].parentSpanId);

      // Log lines name their trace and span: the request's, and the job's (same trace).
      const requestLine = api.lines.find((line) => line.msg === 'request' && line.path === '/trpc/auth.register');
      expect(requestLine?.trace_id).toBe(request.traceId);
      expect(requestLine?.span_id).toMatch(/^[0-9a-f]{16}$/);
      expect(mailed.trace_id).toBe(request.traceId);
      // Inputs never reach span attributes (SQL is recorded with placeholders, not values).
      const recorded = JSON.stringify(spans);
      expect(recorded).not.toContain(account.password);
      expect(recorded).not.toContain(account.email);
    } finally {
      await database.close();
    }
  });

  it.skipIf(target.skip)('exports over OTLP, and on SIGTERM lets a slow request finish, exits 0 and flushes the spans', async () => {
    const database = await target.open();
    const received: { path: string; body: string }[] = [];
    const collector = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        received.push({ path: req.url ?? '', body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    try {
      const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
      const api = startApi(database.url, { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, LOG_LEVEL: 'trace', SHUTDOWN_TIMEOUT_MS: '5000' }, PRELOAD);
      const { url } = (await api.waitFor('listening')) as LogLine & { url: string };

      // A batch of registrations hashes a password each (Argon2id): slow enough to be in flight at SIGTERM.
      const accounts = Array.from({ length: 24 }, registration);
      const slow = postBatch(url, 'auth.register', accounts);
      await expect.poll(() => api.lines.some((line) => line.msg === 'request received' && String(line.path).startsWith('/trpc/auth.register')), { interval: 5 }).toBe(true);
      const signalledAt = Date.now();
      api.child.kill('SIGTERM');

      const response = await slow;
      expect(response.status).toBe(200);
      expect(response.headers.get('connection')).toBe('close');
      const results = (await response.json()) as { result?: unknown; error?: unknown }[];
      expect(results).toHaveLength(accounts.length);
      expect(results.every((result) => result.result !== undefined)).toBe(true);
      expect(await api.exited).toBe(0);
      // The promise is the shutdown deadline (5 s here); the margin is for a busy 2-core machine (closing the
      // pools and flushing the spans come after it), not a measure of speed.
      expect(Date.now() - signalledAt).toBeLessThan(5_000 + 10_000);
      const messages = api.lines.map((line) => line.msg);
      // The request was still running when the shutdown began, and finished before the process stopped.
      const finished = api.lines.findIndex((line) => line.msg === 'request' && String(line.path).startsWith('/trpc/auth.register'));
      expect(messages.indexOf('shutting down')).toBeLessThan(finished);
      expect(finished).toBeLessThan(messages.indexOf('stopped'));
      // New connections are refused once the shutdown began.
      await expect(fetch(`${url}/health/live`)).rejects.toThrow();

      // The last spans were flushed to the collector before the exit.
      const exported = received.filter((entry) => entry.path === '/v1/traces').map((entry) => entry.body);
      const all = exported.join('\n');
      expect(all).toContain('"stringValue":"ai-backend-service-api"');
      expect(all.split('"name":"trpc auth.register"').length - 1).toBe(accounts.length);
    } finally {
      await new Promise((resolve) => collector.close(resolve));
      await database.close();
    }
  });
});
