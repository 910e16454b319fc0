// An API process holding live streams stops promptly on SIGTERM: the streams end first (SERVICE_UNAVAILABLE, which
// clients retry on) instead of holding the drain until SHUTDOWN_TIMEOUT_MS, the process exits 0, and the SDK's
// subscription carries on from the next process without an error. Real processes on both dialects.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createClient } from '../client-sdk/src/index.ts';
import { openTestDatabase } from './testing/database.ts';
import { rest } from './testing/http.ts';
import { startNode, type LogLine, type NodeProcess } from './testing/processes.ts';

const METRICS_TOKEN = 'live-shutdown-metrics-token';
/** Far longer than this test waits for anything: a stop that waited for its streams would meet it. */
const SHUTDOWN_TIMEOUT_MS = 600_000;

type Target = { name: string; skip: boolean; open: () => Promise<{ url: string; close: () => Promise<void> }> };
const dir = mkdtempSync(join(tmpdir(), 'live-shutdown-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const targets: Target[] = [
  // The embedded default: SQLite with the PGlite queue beside it, in the next process on the same files.
  { name: 'sqlite', skip: false, open: async () => ({ url: `file:${join(dir, 'app.db')}`, close: async () => {} }) },
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

/** Reads a text/event-stream body to its end: each event's `event:` and `data:`. */
async function eventsUntilEnd(response: Response): Promise<{ event: string | null; data: string }[]> {
  const events: { event: string | null; data: string }[] = [];
  const text = await response.text();
  for (const block of text.split('\n\n')) {
    const field = (name: string) => block.split('\n').find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2) ?? null;
    const data = field('data');
    if (data !== null) events.push({ event: field('event'), data });
  }
  return events;
}

const liveSubscribers = async (url: string): Promise<number> => {
  const text = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }).then((response) => response.text());
  return Number(/^live_subscribers\{stream="tasks"\} (\d+)/m.exec(text)?.[1] ?? -1);
};

describe.each(targets)('an API process with open live streams, on $name, told to stop', (target) => {
  it.skipIf(target.skip)('ends the streams first, exits 0 without waiting for its deadline, and the SDK resumes on the next process', { timeout: 300_000 }, async () => {
    const database = await target.open();
    const start = (): NodeProcess =>
      startNode('server/main.ts', {
        DATABASE_URL: database.url,
        PORT: '0',
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        WORKER_IN_PROCESS: 'true',
        METRICS_TOKEN,
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
        RATE_LIMIT_GLOBAL_PER_MINUTE: '100000',
        RATE_LIMIT_REGISTER_PER_MINUTE: '1000',
      });
    try {
      const first = start();
      // Starting takes a while on a busy machine (a first PGlite initdb): nothing here bounds it tightly.
      const { url: firstUrl } = (await first.waitFor('listening')) as LogLine & { url: string };
      const registered = await rest<{ token: string }>(firstUrl, 'POST', '/api/auth/register', { json: { username: 'streamer', email: 'streamer@example.com', password: 'a long enough password' } });
      expect(registered.status).toBe(201);
      const { token } = registered.body;

      // The SDK goes to whichever process is current: the first, then the next.
      let current = firstUrl;
      const api = createClient({ url: 'http://api.invalid', token, fetch: (input, init) => fetch(String(input).replace('http://api.invalid', current), init) });
      const seen = new Map<string, string>();
      const errors: unknown[] = [];
      const subscription = api.tasks.onChange.subscribe({}, { onData: ({ data }) => seen.set(data.id, data.status), onError: (error) => errors.push(error) });
      // And a plain text/event-stream under /api.
      const stream = await fetch(`${firstUrl}/api/tasks/events`, { headers: { authorization: `Bearer ${token}` } });
      expect(stream.status).toBe(200);
      const streamed = eventsUntilEnd(stream);
      await expect.poll(() => liveSubscribers(firstUrl), { interval: 100 }).toBe(2);

      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
      // The /api stream ended with an error event that says to come back, not by being cut at the deadline.
      expect(await streamed).toEqual([{ event: 'error', data: expect.stringContaining('"code":"SERVICE_UNAVAILABLE"') }]);
      await expect.poll(() => first.lines.map((line) => line.msg), { interval: 20 }).toContain('stopped');
      const messages = first.lines.map((line) => line.msg);
      expect(messages.indexOf('shutting down')).toBeLessThan(messages.indexOf('stopped'));
      expect(messages).not.toContain('requests still in flight at the deadline were cut off');
      // Ending a stream for a shutdown is not a database outage.
      expect(messages).not.toContain('database unavailable');

      // The next process: the SDK's subscription reconnects to it by itself and hears a task submitted there.
      const next = start();
      const { url: nextUrl } = (await next.waitFor('listening')) as LogLine & { url: string };
      current = nextUrl;
      await expect.poll(() => liveSubscribers(nextUrl), { interval: 100 }).toBe(1);
      const submitted = await rest<{ id: string }>(nextUrl, 'POST', '/api/tasks', { token, json: { type: 'math.sum', input: { numbers: [1, 2] } } });
      expect(submitted.status).toBe(202);
      await expect.poll(() => seen.get(submitted.body.id), { interval: 50 }).toBe('completed');
      expect(errors).toEqual([]);
      subscription.unsubscribe();

      next.child.kill('SIGTERM');
      expect(await next.exited).toBe(0);
    } finally {
      await database.close();
    }
  });
});
