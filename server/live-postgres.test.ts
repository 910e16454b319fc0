// Live updates across processes on a real Postgres (TEST_DATABASE_URL; PGlite serves one process): a worker
// process's commit reaches a subscriber of the API through NOTIFY, and 100 subscribers whose API lost every
// database connection get, once Postgres is reachable again, both what changed while it was not and what
// changes after, with no restart.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { newId, openDatabase } from '../db/index.ts';
import { assembleDeps, closeDeps, type Deps } from './deps.ts';
import { appRouter } from './routers/index.ts';
import { taskAnnouncement } from './services/task-changes.ts';
import { createUser, signIn } from './testing/factories.ts';
import { captureLogs, createTestDeps, testConfig } from './testing/harness.ts';
import { startNode } from './testing/processes.ts';
import { startTcpProxy } from './testing/tcp-proxy.ts';
import { createInnerContext } from './trpc/context.ts';
import { createCallerFactory } from './trpc/init.ts';

const createCaller = createCallerFactory(appRouter);
const testDatabaseUrl = process.env.TEST_DATABASE_URL;

type Task = { id: string; status: string };

/** A subscription whose events are collected as they come (task id → last status). */
function collect(iterable: AsyncIterable<unknown>) {
  const seen = new Map<string, string>();
  const done = (async () => {
    for await (const item of iterable) {
      const task = (item as [string, Task])[1];
      seen.set(task.id, task.status);
    }
  })();
  done.catch(() => {});
  return { seen, done };
}

describe.skipIf(!testDatabaseUrl)('live updates across processes on Postgres (TEST_DATABASE_URL)', () => {
  let writer: Deps;
  const open = async () => (writer ??= await createTestDeps('postgres'));
  afterAll(async () => {
    if (writer) await closeDeps(writer);
  });
  const databaseUrl = () => (writer.db.source.kind === 'postgres' ? writer.db.source.url : '');

  /** The API side: deps of its own on `url` (no worker), as an API process builds them. */
  async function apiDeps(url: string, env: Record<string, string> = {}) {
    const logs = captureLogs('warn');
    const config = testConfig({ DATABASE_URL: url, ...env });
    const db = await openDatabase({ url, poolMax: 4, onListenError: (err) => logs.logger.warn({ err }, 'the LISTEN connection (live updates, cache invalidations) failed; reconnecting') });
    const deps = await assembleDeps({ config, logger: logs.logger, db, queueBackend: { kind: 'postgres', url } });
    return { deps, logs };
  }

  it('delivers the commit of a worker in another process to a subscriber of the API', async () => {
    await open();
    const { deps: api } = await apiDeps(databaseUrl());
    const worker = startNode('jobs/worker.ts', {
      DATABASE_URL: databaseUrl(),
      MIGRATE_ON_START: 'false',
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      WORKER_PORT: '0',
      QUEUE_POLLING_INTERVAL_SECONDS: '0.5',
      OUTBOX_DIR: join(tmpdir(), `abs-live-outbox-${process.pid}`),
    });
    const abort = new AbortController();
    try {
      await worker.waitFor('working');
      const user = await createUser(api);
      const { token } = await signIn(api, user);
      const caller = createCaller(() => createInnerContext(api, { token }), { signal: abort.signal });
      const { id } = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [7, 8] } });
      const statuses: string[] = [];
      for await (const [, task] of (await caller.tasks.onChange({ taskId: id })) as AsyncIterable<[string, Task & { result: unknown }]>) {
        statuses.push(task.status);
        if (task.status === 'completed') expect(task.result).toEqual({ sum: 15, count: 2 });
      }
      expect(statuses.at(-1)).toBe('completed');
    } finally {
      abort.abort();
      worker.child.kill('SIGTERM');
      await worker.exited;
      await closeDeps(api);
    }
  });

  it('resynchronises 100 subscribers after every connection was cut, and goes on delivering', async () => {
    await open();
    const url = new URL(databaseUrl());
    const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    url.host = `127.0.0.1:${proxy.port}`;
    const { deps: api, logs } = await apiDeps(url.toString());
    const abort = new AbortController();
    try {
      const users = await Promise.all(Array.from({ length: 10 }, () => createUser(writer)));
      const subscribers: ({ userId: string } & ReturnType<typeof collect>)[] = [];
      for (const user of users) {
        const { token } = await signIn(writer, user);
        const caller = createCaller(() => createInnerContext(api, { token }), { signal: abort.signal });
        for (let i = 0; i < 10; i++) subscribers.push({ userId: user.id, ...collect(await caller.tasks.onChange({})) });
      }
      expect(api.live.count().tasks).toBe(100);

      /** A task row for each user, written (and announced) by the writer, which never loses its database. */
      const insertForEach = async () => {
        const ids = new Map<string, string>();
        for (const user of users) {
          const id = newId();
          ids.set(user.id, id);
          await writer.db.orm.insert(writer.db.tables.tasks).values({ id, userId: user.id, type: 'math.sum', input: { numbers: [1] }, createdAt: writer.clock.now() }).returning({ announced: taskAnnouncement(writer) });
        }
        return ids;
      };
      const before = await insertForEach();
      const everyoneHas = (ids: Map<string, string>) => subscribers.every((subscriber) => subscriber.seen.has(ids.get(subscriber.userId)!));
      await expect.poll(() => everyoneHas(before)).toBe(true);

      await proxy.cut();
      await expect.poll(() => logs.lines.some((line) => String(line.msg).includes('LISTEN connection'))).toBe(true);
      const during = await insertForEach();
      await proxy.resume();
      // Announced while the API could not hear: sent once its listener is back (the resync).
      await expect.poll(() => everyoneHas(during), { interval: 200 }).toBe(true);
      const after = await insertForEach();
      await expect.poll(() => everyoneHas(after), { interval: 200 }).toBe(true);
      // Nobody got anyone else's tasks.
      for (const subscriber of subscribers) {
        const mine = new Set([before, during, after].map((ids) => ids.get(subscriber.userId)));
        expect([...subscriber.seen.keys()].every((id) => mine.has(id))).toBe(true);
      }
      expect(api.live.count().tasks).toBe(100);
    } finally {
      abort.abort();
      await closeDeps(api);
      await proxy.close();
    }
    expect(api.live.count().tasks).toBe(0);
  });
});
