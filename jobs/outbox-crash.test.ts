// The job outbox with real API processes: a send that fails after the commit fails no request, a process that
// dies between commit and send loses nothing on restart, and SIGKILL at random moments under load leaves every
// acknowledged task run exactly once and every account welcomed exactly once: embedded (SQLite + PGlite on
// disk) and with QUEUE_DATABASE_URL on a Postgres database of its own.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { Database } from '../db/index.ts';
import { openTestDatabase } from '../server/testing/database.ts';
import { rest } from '../server/testing/http.ts';
import { freePort } from '../server/testing/ports.ts';
import { startNode, type NodeProcess } from '../server/testing/processes.ts';

const METRICS_TOKEN = 'outbox-metrics-token-0123456789';
const FAULTY_API = 'server/testing/api-with-relay-fault.ts';

type TaskRow = { id: string; status: string; attempts: number; result: unknown };
type UserRow = { email: string; welcomed: boolean };
type JobRow = { name: string; key: string; state: string; retryCount: number };

/** One deployment's data: the app database the test reads, and the pg-boss jobs (read once the API stopped). */
type Deployment = {
  env: Record<string, string>;
  mailDir: string;
  tasks: () => Promise<TaskRow[]>;
  users: () => Promise<UserRow[]>;
  jobs: () => Promise<JobRow[]>;
  close: () => Promise<void>;
};

function baseEnv(dir: string, port: number): Record<string, string> {
  return {
    PORT: String(port),
    HOST: '127.0.0.1',
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    METRICS_TOKEN,
    OUTBOX_DIR: join(dir, 'mail'),
    RATE_LIMIT_GLOBAL_PER_MINUTE: '1000000',
    RATE_LIMIT_REGISTER_PER_MINUTE: '1000000',
    RATE_LIMIT_LOGIN_PER_MINUTE: '1000000',
    QUEUE_POLLING_INTERVAL_SECONDS: '0.5',
    QUEUE_MAINTENANCE_INTERVAL_SECONDS: '1',
    WORKER_CONCURRENCY: '4',
    DATABASE_STARTUP_TIMEOUT_MS: '10000',
    // A welcome send claimed by an attempt that died is taken over once the claim is older than the job's
    // expiry (120 s in production): short here, so what a kill left half-sent is sent again within seconds.
    QUEUE_EXPIRE_SECONDS: 'email.welcome=10',
    QUEUE_HEARTBEAT_SECONDS: 'email.welcome=10',
  };
}

/** The embedded default: SQLite in `dir/app.db`, pg-boss on PGlite in `dir/queue`, both in the API process. */
async function embedded(): Promise<Deployment> {
  const dir = mkdtempSync(join(tmpdir(), 'abs-outbox-'));
  const file = join(dir, 'app.db');
  let sqlite: BetterSqlite3.Database | null = null;
  const read = () => (sqlite ??= new BetterSqlite3(file, { readonly: true }));
  return {
    env: { ...baseEnv(dir, await freePort()), DATABASE_URL: `file:${file}` },
    mailDir: join(dir, 'mail'),
    tasks: async () =>
      (read().prepare('select id, status, attempts, result from tasks').all() as (Omit<TaskRow, 'result'> & { result: string | null })[]).map((row) => ({
        ...row,
        result: row.result === null ? null : (JSON.parse(row.result) as unknown),
      })),
    users: async () => (read().prepare('select email, welcome_email_sent_at is not null as welcomed from users').all() as { email: string; welcomed: number }[]).map((row) => ({ email: row.email, welcomed: row.welcomed === 1 })),
    jobs: async () => {
      const { PGlite } = await import('@electric-sql/pglite');
      const queue = await PGlite.create(join(dir, 'queue'));
      try {
        const { rows } = await queue.query<JobRow>(`select name, coalesce(data->>'taskId', data->>'userId') as key, state::text as state, retry_count as "retryCount" from pgboss.job where name in ('tasks.run', 'email.welcome')`);
        return rows;
      } finally {
        await queue.close();
      }
    },
    close: async () => {
      sqlite?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** App data on a Postgres database, jobs on another (QUEUE_DATABASE_URL), worked in the API process. */
async function separateQueueDatabase(): Promise<Deployment> {
  const dir = mkdtempSync(join(tmpdir(), 'abs-outbox-'));
  const app: Database = await openTestDatabase('postgres');
  const queue: Database = await openTestDatabase('postgres', { migrated: false });
  const urlOf = (db: Database) => (db.source.kind === 'postgres' ? db.source.url : '');
  return {
    env: { ...baseEnv(dir, await freePort()), DATABASE_URL: urlOf(app), QUEUE_DATABASE_URL: urlOf(queue), WORKER_IN_PROCESS: 'true', DATABASE_POOL_MAX: '4' },
    mailDir: join(dir, 'mail'),
    tasks: async () => (await app.orm.execute<TaskRow>('select id, status, attempts, result from tasks')).rows,
    users: async () => (await app.orm.execute<UserRow>('select email, welcome_email_sent_at is not null as welcomed from users')).rows,
    jobs: async () =>
      (
        await queue.orm.execute<JobRow>(
          `select name, coalesce(data->>'taskId', data->>'userId') as key, state::text as state, retry_count as "retryCount" from pgboss.job where name in ('tasks.run', 'email.welcome')`,
        )
      ).rows,
    close: async () => {
      await Promise.all([app.close(), queue.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function startApi(deployment: Deployment, fault?: string): NodeProcess {
  return fault ? startNode(FAULTY_API, deployment.env, [], [fault]) : startNode('server/main.ts', deployment.env);
}

async function listening(api: NodeProcess): Promise<string> {
  const line = await api.waitFor('listening');
  return line.url as string;
}

/**
 * Listening and with its queue up. With the jobs in another database the API listens before its queue is up
 * (commits meanwhile leave their rows for the queue's start to relay): steps that need a commit's own send, or
 * the start's relay done, wait for this.
 */
async function queueUp(api: NodeProcess): Promise<string> {
  const url = await listening(api);
  await api.waitFor('job queue started');
  return url;
}

async function kill(api: NodeProcess): Promise<void> {
  api.child.kill('SIGKILL');
  await api.exited;
}

/** The recipients of the e-mails in the mail directory (one .eml per message), with how many each got. */
function mailCounts(dir: string): Map<string, number> {
  const counts = new Map<string, number>();
  if (!existsSync(dir)) return counts;
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.eml'))) {
    const to = /^To: (?:.*<)?([^<>\s]+@[^<>\s]+)>?\s*$/m.exec(readFileSync(join(dir, file), 'utf8'))?.[1] ?? '?';
    counts.set(to, (counts.get(to) ?? 0) + 1);
  }
  return counts;
}

async function register(base: string, username: string): Promise<{ status: number; token?: string }> {
  const response = await rest<{ token?: string }>(base, 'POST', '/api/auth/register', { json: { username, email: `${username}@example.com`, password: 'correct horse battery staple' } });
  return { status: response.status, token: response.body?.token };
}

async function submit(base: string, token: string, numbers: number[]) {
  return rest<{ id: string }>(base, 'POST', '/api/tasks', { token, json: { type: 'math.sum', input: { numbers } } });
}

async function scrapeOutbox(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  return Number(/^job_outbox_rows{database="app"} (\S+)$/m.exec(text)?.[1]);
}

describe('the embedded API process when sending to pg-boss fails after the commit', () => {
  let deployment: Deployment | undefined;
  afterAll(async () => deployment?.close());

  it('answers the requests, shows the backlog, and after a crash or a restart runs every task and sends every e-mail', async () => {
    deployment = await embedded();
    // 1. pg-boss refuses every send (after commits, at start, on the sweep): the requests still succeed.
    let api = startApi(deployment, 'fail:commit,start,sweep');
    let base = await queueUp(api);
    const owner = await register(base, 'outbox_owner');
    expect(owner.status).toBe(201);
    const token = owner.token!;
    const first = await submit(base, token, [1, 2]);
    expect(first.status).toBe(202);
    expect(await scrapeOutbox(base)).toBe(2); // the welcome e-mail and the task
    expect(api.lines.some((line) => line.msg === 'job outbox: sending after the commit failed; the sweep retries')).toBe(true);
    await kill(api);
    expect((await deployment.tasks()).map((task) => task.status)).toEqual(['queued']);

    // 2. A restart relays that backlog as its queue starts; then the process dies between a commit and its send:
    //    the client gets no answer, but the row committed.
    api = startApi(deployment, 'die-after-commit');
    base = await queueUp(api);
    expect(api.lines.find((line) => line.msg === 'job outbox: relayed what was left from before the start')).toMatchObject({ jobs: 2 });
    await expect(submit(base, token, [3, 4])).rejects.toThrow();
    await api.exited;
    const second = (await deployment.tasks()).find((task) => task.id !== first.body.id);
    expect(second?.status).toBe('queued');

    // 3. A plain restart relays what the crash left behind as its queue starts; everything runs.
    api = startApi(deployment);
    base = await queueUp(api);
    expect(api.lines.find((line) => line.msg === 'job outbox: relayed what was left from before the start')).toMatchObject({ jobs: 1 });
    await expect.poll(async () => (await deployment!.tasks()).map((task) => task.status)).toEqual(['completed', 'completed']);
    const results = new Map((await deployment.tasks()).map((task) => [task.id, task.result]));
    expect(results).toEqual(new Map([[first.body.id, { sum: 3, count: 2 }], [second!.id, { sum: 7, count: 2 }]]));
    await expect.poll(() => mailCounts(deployment!.mailDir).get('outbox_owner@example.com')).toBe(1);
    expect(await scrapeOutbox(base)).toBe(0);
    api.child.kill('SIGTERM');
    expect(await api.exited).toBe(0);
  }, 600_000);
});

const TASKS = 500;
const ACCOUNTS = 50;
const KILLS = 5;

/**
 * Clients submit TASKS tasks and register ACCOUNTS accounts while the API is SIGKILLed and restarted KILLS
 * times, each kill at a random point of the load. A request that fails (the process died under it, or is not
 * up yet) is retried; a registration retried after its commit gets CONFLICT, and that account exists.
 */
async function killLoop(deployment: Deployment): Promise<void> {
  let api = startApi(deployment);
  let base = await listening(api);
  const owner = await register(base, 'kill_owner');
  expect(owner.status).toBe(201);
  const token = owner.token!;
  const acknowledged = new Map<string, number>(); // task id → expected sum
  let killing = false;
  // A request that failed waits a moment and is retried. Should the API have died by itself (not by the killer),
  // the test fails at once with what it logged last, instead of retrying against nothing until its timeout.
  const retryPause = async () => {
    const { exitCode, signalCode } = api.child;
    if (!killing && (exitCode !== null || signalCode !== null)) throw new Error(`the API exited by itself (${exitCode ?? signalCode}):\n${api.lastWords()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  };

  const taskClient = async (client: number, quota: number) => {
    for (let n = 0; n < quota; ) {
      const numbers = [client, n, 1];
      const response = await submit(base, token, numbers).catch(() => null);
      if (response?.status === 202) {
        acknowledged.set(response.body.id, client + n + 1);
        n++;
      } else await retryPause();
    }
  };
  const registered: string[] = ['kill_owner'];
  const accountClient = async (prefix: string, quota: number) => {
    for (let n = 0; n < quota; ) {
      const username = `${prefix}_${n}`;
      const response = await register(base, username).catch(() => null);
      if (response?.status === 201 || response?.status === 409) {
        registered.push(username);
        n++;
      } else await retryPause();
    }
  };
  const clients = [
    ...Array.from({ length: 10 }, (_, client) => taskClient(client, TASKS / 10)),
    accountClient('kill_a', ACCOUNTS / 2),
    accountClient('kill_b', ACCOUNTS / 2),
  ];
  let running = true;
  const killer = (async () => {
    for (let k = 0; k < KILLS; k++) {
      // A random point in the k-th fifth of the task load (registrations run alongside).
      const at = Math.floor(((k + Math.random()) * TASKS * 0.9) / KILLS);
      while (acknowledged.size < at && running) await retryPause();
      killing = true;
      await kill(api);
      api = startApi(deployment);
      base = await listening(api);
      killing = false;
    }
  })();
  try {
    // The killer too: a restarted API that never listens fails the test with its last words.
    await Promise.all([...clients, killer]);
  } finally {
    running = false;
  }
  expect(acknowledged.size).toBe(TASKS);

  // Interrupted attempts are retried once their heartbeat lapses (10 s): wait for every task to settle.
  await expect
    .poll(async () => (await deployment.tasks()).filter((task) => task.status !== 'completed' && task.status !== 'failed').length, { interval: 250 })
    .toBe(0);
  await expect.poll(async () => (await deployment.users()).filter((user) => !user.welcomed).length, { interval: 250 }).toBe(0);
  api.child.kill('SIGTERM');
  expect(await api.exited).toBe(0);

  const tasks = new Map((await deployment.tasks()).map((task) => [task.id, task]));
  const jobs = await deployment.jobs();
  const taskJobs = new Map<string, JobRow[]>();
  for (const job of jobs.filter((entry) => entry.name === 'tasks.run')) taskJobs.set(job.key, [...(taskJobs.get(job.key) ?? []), job]);
  // Every row that committed (acknowledged or not) has exactly one job, and it completed.
  expect([...tasks.keys()].filter((id) => taskJobs.get(id)?.length !== 1)).toEqual([]);
  expect(taskJobs.size).toBe(tasks.size);
  for (const [id, sum] of acknowledged) {
    const task = tasks.get(id);
    const [job] = taskJobs.get(id) ?? [];
    expect({ id, status: task?.status, result: task?.result, job: job?.state }).toEqual({ id, status: 'completed', result: { sum, count: 3 }, job: 'completed' });
    // One attempt, plus one per attempt a kill interrupted (the job's retries); never more than the job made.
    expect(task!.attempts).toBeGreaterThanOrEqual(1);
    expect(task!.attempts).toBeLessThanOrEqual(job.retryCount + 1);
  }
  expect([...tasks.values()].filter((task) => task.status !== 'completed')).toEqual([]);

  const users = await deployment.users();
  expect(users.map((user) => user.email).sort()).toEqual(registered.map((username) => `${username}@example.com`).sort());
  const welcomeJobs = jobs.filter((job) => job.name === 'email.welcome');
  expect(welcomeJobs.length).toBe(users.length);
  const mails = mailCounts(deployment.mailDir);
  expect(users.filter((user) => mails.get(user.email) !== 1).map((user) => ({ email: user.email, mails: mails.get(user.email) ?? 0 }))).toEqual([]);
  expect([...mails.values()].reduce((a, b) => a + b, 0)).toBe(users.length);
}

describe('SIGKILL at random moments under load', () => {
  let deployment: Deployment | undefined;
  afterAll(async () => deployment?.close());

  it('embedded (SQLite + PGlite): every acknowledged task runs to completion once, every account gets one welcome e-mail', async () => {
    deployment = await embedded();
    await killLoop(deployment);
  }, 900_000);
});

describe.skipIf(!process.env.TEST_DATABASE_URL)('SIGKILL at random moments under load with QUEUE_DATABASE_URL (Postgres)', () => {
  let deployment: Deployment | undefined;
  afterAll(async () => deployment?.close());

  it('jobs on a database of their own: every acknowledged task runs to completion once, every account gets one welcome e-mail', async () => {
    deployment = await separateQueueDatabase();
    await killLoop(deployment);
  }, 900_000);
});
