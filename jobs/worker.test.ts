// Worker processes against a real Postgres (TEST_DATABASE_URL; PGlite serves only one process): a worker
// killed mid-task loses nothing, a lost database connection is survived, SIGTERM stops gracefully, and a worker
// frozen or cut off from its database while a retry takes its tasks over leaves each task one outcome.
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { closeDeps, type Deps } from '../server/deps.ts';
import { createTestDeps } from '../server/testing/harness.ts';
import { signedInUser } from '../server/testing/factories.ts';
import { freePort } from '../server/testing/ports.ts';
import { PRELOAD, startNode, type NodeProcess } from '../server/testing/processes.ts';
import { startTcpProxy, type TcpProxy } from '../server/testing/tcp-proxy.ts';
import { runTaskJob } from './definitions/run-task.ts';

type Worker = NodeProcess;

/** The test database behind a TCP proxy of its own, and the URL that reaches it through the proxy. */
async function proxiedDatabase(databaseUrl: string): Promise<{ proxy: TcpProxy; proxiedUrl: string }> {
  const url = new URL(databaseUrl);
  const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
  url.host = `127.0.0.1:${proxy.port}`;
  return { proxy, proxiedUrl: url.toString() };
}

function startWorker(databaseUrl: string, env: Record<string, string> = {}): Worker {
  return startNode('jobs/worker.ts', {
    DATABASE_URL: databaseUrl,
    MIGRATE_ON_START: 'false',
    LOG_LEVEL: 'info',
    NODE_ENV: 'test',
    WORKER_CONCURRENCY: '1',
    WORKER_PORT: '0',
    QUEUE_POLLING_INTERVAL_SECONDS: '0.5',
    QUEUE_MAINTENANCE_INTERVAL_SECONDS: '1',
    WORKER_SHUTDOWN_TIMEOUT_MS: '5000',
    DATABASE_STARTUP_TIMEOUT_MS: '10000',
    OUTBOX_DIR: join(tmpdir(), `abs-worker-outbox-${process.pid}`),
    ...env,
  });
}

async function working(worker: Worker): Promise<void> {
  await worker.waitFor('working');
}

const HEAVY_TEXT = 'The analytical engine weaves algebraic patterns just as the Jacquard loom weaves flowers and leaves. '.repeat(1000).slice(0, 100_000);

const testDatabaseUrl = process.env.TEST_DATABASE_URL;

describe.skipIf(!testDatabaseUrl)('worker processes on Postgres (TEST_DATABASE_URL)', () => {
  let deps: Deps;
  const open = async () => {
    deps ??= await createTestDeps('postgres');
    return deps;
  };
  afterAll(async () => {
    if (deps) await closeDeps(deps);
  });
  const databaseUrl = () => (deps.db.source.kind === 'postgres' ? deps.db.source.url : '');

  async function taskRow(id: string) {
    const { tasks } = deps.db.tables;
    const [row] = await deps.db.orm.select({ status: tasks.status, attempts: tasks.attempts, result: tasks.result }).from(tasks).where(eq(tasks.id, id));
    return row;
  }

  it('loses nothing when a worker is killed mid-task: another finishes it within the heartbeat window', async () => {
    await open();
    const { caller } = await signedInUser(deps);
    const first = startWorker(databaseUrl());
    await working(first);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await caller.tasks.submit({ type: 'text.analyze', input: { text: HEAVY_TEXT } })).id);
    // Kill it the moment it starts the first one.
    await expect.poll(async () => (await taskRow(ids[0])).status, { interval: 5 }).toBe('running');
    first.child.kill('SIGKILL');
    await first.exited;
    expect((await taskRow(ids[0])).status).toBe('running');

    const second = startWorker(databaseUrl());
    await working(second);
    for (const id of ids) await expect.poll(async () => (await taskRow(id)).status, { interval: 200 }).toBe('completed');
    const interrupted = await taskRow(ids[0]);
    expect(interrupted.attempts).toBe(2);
    expect(interrupted.result).toMatchObject({ characters: 100_000 });
    // pg-boss completes the job once the attempt has returned, after the task's outcome is written: a moment later.
    await expect
      .poll(async () => (await deps.queue.find(runTaskJob, { taskId: ids[0] })).map((job) => ({ state: job.state, retryCount: job.retryCount })))
      .toEqual([{ state: 'completed', retryCount: 1 }]);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('survives losing its database connections and goes on once Postgres is back', async () => {
    await open();
    const { caller } = await signedInUser(deps);
    const { proxy, proxiedUrl } = await proxiedDatabase(databaseUrl());
    try {
      const worker = startWorker(proxiedUrl);
      await working(worker);
      const before = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [1, 2] } });
      await expect.poll(async () => (await taskRow(before.id)).status).toBe('completed');

      await proxy.cut();
      const during = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [3, 4] } });
      // The worker notices (its polls fail) and keeps running.
      await expect.poll(() => worker.lines.some((line) => line.level === 50 || line.level === 40)).toBe(true);
      expect(worker.child.exitCode).toBeNull();
      await proxy.resume();

      await expect.poll(async () => (await taskRow(during.id)).status, { interval: 200 }).toBe('completed');
      const after = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [5] } });
      await expect.poll(async () => (await taskRow(after.id)).status).toBe('completed');
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
    } finally {
      await proxy.close();
    }
  });

  it('answers probes and serves metrics on WORKER_PORT, and nothing else', async () => {
    await open();
    const { caller } = await signedInUser(deps);
    const port = await freePort();
    const token = 'worker-metrics-token-0123456789';
    const worker = startWorker(databaseUrl(), { WORKER_PORT: String(port), METRICS_TOKEN: token });
    await working(worker);
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/health/live`)).status).toBe(200);
    expect((await fetch(`${base}/health/ready`)).status).toBe(200);
    expect((await fetch(`${base}/trpc/health.check`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    const task = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [1, 2] } });
    await expect.poll(async () => (await taskRow(task.id)).status).toBe('completed');
    // The attempt's duration is observed when its handler returns, which is after the task's row is written
    // (the outcome commits inside the attempt): a scrape in between is right not to have it yet.
    const scrape = async () => (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    await expect.poll(scrape).toMatch(/^job_duration_seconds_count\{queue="tasks\.run",outcome="completed"\} [1-9]/m);
    expect(await scrape()).toMatch(/^db_pool_connections\{state="total"\} /m);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });

  it('on SIGTERM finishes its active job, leaves the queued ones for others, and exits 0', async () => {
    await open();
    const { caller } = await signedInUser(deps);
    // A deadline the job always beats, however busy the machine: finishing it is what this asserts (a job still
    // running at WORKER_SHUTDOWN_TIMEOUT_MS is failed back for retry: a loaded run's analysis once outlasted 5 s).
    const worker = startWorker(databaseUrl(), { WORKER_SHUTDOWN_TIMEOUT_MS: '240000' });
    await working(worker);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await caller.tasks.submit({ type: 'text.analyze', input: { text: HEAVY_TEXT } })).id);
    await expect.poll(async () => (await taskRow(ids[0])).status, { interval: 5 }).toBe('running');
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    const said = worker.lines.map((line) => line.msg);
    expect(said).toEqual(expect.arrayContaining(['shutting down', 'stopped']));
    expect(said.indexOf('shutting down')).toBeLessThan(said.indexOf('stopped'));
    expect((await taskRow(ids[0])).status).toBe('completed');
    // What it did not take is still there for the next worker.
    const next = startWorker(databaseUrl());
    for (const id of ids) await expect.poll(async () => (await taskRow(id)).status, { interval: 200 }).toBe('completed');
    next.child.kill('SIGTERM');
    expect(await next.exited).toBe(0);
  });
  // Heartbeats of 10 s (pg-boss's least) and supervision every second: a silent worker loses its jobs in seconds.
  const quickRetries = { QUEUE_HEARTBEAT_SECONDS: 'tasks.run=10', QUEUE_MAINTENANCE_INTERVAL_SECONDS: '1' };

  it('leaves each task one outcome when a frozen worker wakes up after a retry took its task over', async () => {
    await open();
    const { caller } = await signedInUser(deps);
    const frozen = startWorker(databaseUrl(), quickRetries);
    await working(frozen);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await caller.tasks.submit({ type: 'text.analyze', input: { text: HEAVY_TEXT } })).id);
    await expect.poll(async () => (await taskRow(ids[0])).status, { interval: 5 }).toBe('running');
    frozen.child.kill('SIGSTOP');
    try {
      const other = startWorker(databaseUrl(), quickRetries);
      await working(other);
      // The heartbeat lapses, pg-boss retries the job, and the other worker claims the task.
      await expect.poll(async () => (await taskRow(ids[0])).attempts, { interval: 100 }).toBe(2);
    } finally {
      frozen.child.kill('SIGCONT');
    }
    // The woken attempt finds it lost the task (its job's claim is gone) and writes nothing.
    await expect
      .poll(() => frozen.lines.some((line) => line.msg === 'task attempt superseded by a later attempt; its outcome is dropped' && line.taskId === ids[0]))
      .toBe(true);
    for (const id of ids) await expect.poll(async () => (await taskRow(id)).status, { interval: 200 }).toBe('completed');
    expect((await taskRow(ids[0])).result).toMatchObject({ characters: 100_000 });
    // pg-boss completes the job once the attempt has returned, after the task's outcome is written: a moment later.
    await expect.poll(async () => (await deps.queue.find(runTaskJob, { taskId: ids[0] })).map((job) => job.state)).toEqual(['completed']);
  });

  it('leaves each task one outcome when a worker’s database traffic stalls while retries take its tasks over', async () => {
    await open();
    const { caller } = await signedInUser(deps);
    const { proxy, proxiedUrl } = await proxiedDatabase(databaseUrl());
    try {
      const stalled = startWorker(proxiedUrl, { ...quickRetries, WORKER_CONCURRENCY: '15' });
      await working(stalled);
      // Enough analyses (about a second each) that the stalled worker still has some waiting for its analysis
      // thread when its traffic goes on, and the other worker some claimed but not yet run.
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) ids.push((await caller.tasks.submit({ type: 'text.analyze', input: { text: HEAVY_TEXT } })).id);
      await expect.poll(async () => (await Promise.all(ids.map(taskRow))).filter((row) => row.status === 'running').length, { interval: 20 }).toBeGreaterThan(2);
      proxy.hold();
      const other = startWorker(databaseUrl(), { ...quickRetries, WORKER_CONCURRENCY: '15' });
      await working(other);
      // Held long enough for the heartbeats to lapse and the other worker to take the tasks over.
      await expect.poll(async () => (await Promise.all(ids.map(taskRow))).filter((row) => row.attempts >= 2).length, { interval: 200 }).toBeGreaterThan(0);
      proxy.release();
      for (const id of ids) await expect.poll(async () => (await taskRow(id)).status, { interval: 200 }).toBe('completed');
      for (const row of await Promise.all(ids.map(taskRow))) expect(row.result).toMatchObject({ characters: 100_000 });
    } finally {
      await proxy.close();
    }
  }, 300_000);
});

describe('npm run worker', () => {
  it('refuses to start when the jobs live in PGlite, which only the API process can open', () => {
    const result = spawnSync(process.execPath, [...PRELOAD, 'jobs/worker.ts'], { env: { PATH: process.env.PATH, DATABASE_URL: ':memory:' }, encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('only the API process can open');
  });

  it('refuses a bad environment, naming the variable', () => {
    const result = spawnSync(process.execPath, [...PRELOAD, 'jobs/worker.ts'], { env: { PATH: process.env.PATH, WORKER_CONCURRENCY: 'lots' }, encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('WORKER_CONCURRENCY:');
  });
});
