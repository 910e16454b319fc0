// npm run bench: starts each target in its own process and loads it with autocannon from this one, in
// alternating rounds, then prints requests/s, latency and the ratios between targets measured in the same run.
//   --suite=all|foundation|auth|posts|jobs|live|startup|memory|overload, or soak (not in all: --minutes=10 per dialect, --targets=embedded|postgres),
//   or stalls (not in all: the posts suite's event-loop part on --database=file:<a seeded SQLite file>)
//   --duration=5 (seconds per round)   --rounds=3   --connections=50   --warmup=3
//   --load-seconds=60 --settle-seconds=50 (the memory suite)
//   --thresholds=50,100 (the overload suite: lags to shed at, beside the default and off)
//   --users=10000 --posts=100000 (what the posts suite seeds; past --base=100000 it also seeds --base and prints the ratios)   --tasks=3000 (per round) --concurrency=8 (the jobs suite)
//   --subscribers=1000 --live-tasks=200 --live-parts=latency,throughput --pg-options='-c synchronous_commit=off' (the live suite;
//   --pg-options: session settings for the throughput pairs' connections, to see where the notifications' cost lies)
// Every target is warmed up (JIT, pools, caches) before the measured rounds.
import { freePort } from '../server/testing/ports.ts';
import { SERVER_NODE_ARGS } from '../server/runtime/node-args.ts';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import BetterSqlite3 from 'better-sqlite3';
import { eq } from 'drizzle-orm';
import { openDatabase } from '../db/index.ts';
import { seed } from './seed.ts';
import { overloadSuite } from './bench/overload.ts';
import { soakSuite } from './bench/soak.ts';
import { startupSuite } from './bench/startup.ts';
import { memorySuite, queueOpen } from './bench/memory.ts';
import { postgresCpuMicros, stopChild } from './bench/proc.ts';
import { median } from './bench/numbers.ts';
import { eventLoopStalls, Q_COMMON, Q_RARE, USERS_Q_COMMON, USERS_Q_RARE } from './bench/stalls.ts';

const args = new Map(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split(/=(.*)/s).slice(0, 2) as [string, string]));
const SUITE = args.get('suite') ?? 'all';
const DURATION = Number(args.get('duration') ?? 5);
const ROUNDS = Number(args.get('rounds') ?? 3);
const CONNECTIONS = Number(args.get('connections') ?? 50);
const WARMUP = Number(args.get('warmup') ?? 3);
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const root = join(import.meta.dirname, '..');
const dataDir = mkdtempSync(join(tmpdir(), 'bench-'));
const children: ChildProcess[] = [];
/** The process serving each base URL, for its CPU time. */
const pidOf = new Map<string, number>();
const cleanups: (() => Promise<void>)[] = [];

/** `paths` (optional): each request picks one at random, e.g. many users' profiles. */
type Target = { label: string; url: string; paths?: string[]; method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string };
/**
 * `cpuPerRequest`: CPU time (user + system) the target's main thread spent per request, in µs. `meanMs`: the time a
 * connection waited for each response, from the request rate (connections ÷ req/s): to a fraction of a millisecond,
 * where autocannon's percentiles are whole milliseconds (a p50 of 3 is anything from 3.0 to 3.99 ms), so a ratio of
 * two small p50s can be off by a third either way. With one connection it is that client's mean latency.
 */
type Result = { rps: number; p50: number; p99: number; errors: number; cpuPerRequest: number; meanMs: number };

async function waitFor(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: server exited with ${child.exitCode}`);
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`${url} did not come up within 60 s`);
}

/** A server in its own process; resolves with its base URL once it answers. */
async function start(script: string, argv: (port: number) => string[], env: Record<string, string> = {}, attempts = 2): Promise<string> {
  // A port the OS says is free now (a fixed range could collide with ephemeral ports of other connections).
  const port = await freePort();
  // Every target runs with the node flags of `npm start`, baselines included, so only the code differs.
  const child = fork(join(root, script), argv(port), {
    execArgv: SERVER_NODE_ARGS,
    env: { ...process.env, PORT: String(port), ...env },
    // BENCH_DEBUG=1 shows the servers' logs.
    stdio: ['ignore', process.env.BENCH_DEBUG ? 'inherit' : 'ignore', 'inherit', 'ipc'],
  });
  children.push(child);
  const base = `http://127.0.0.1:${port}`;
  pidOf.set(base, child.pid!);
  try {
    await waitFor(`${base}/`, child);
  } catch (error) {
    // On a shared machine another process can take the port between freePort() and listen(): once more.
    if (child.exitCode === null || attempts <= 1) throw error;
    console.error(`${script} exited with ${child.exitCode} while starting; starting it again`);
    return start(script, argv, env, attempts - 1);
  }
  return base;
}

/** A `npm run worker` process; resolves once it logs that it is working. */
function startWorker(env: Record<string, string>): Promise<void> {
  const child = fork(join(root, 'jobs/worker.ts'), [], { execArgv: SERVER_NODE_ARGS, env: { ...process.env, LOG_LEVEL: 'info', WORKER_PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('"msg":"working"')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
  });
}

/** Our API in production mode: every middleware on, logging at info, rate limits out of the way. */
const startApi = (databaseUrl: string, env: Record<string, string> = {}) =>
  start('server/main.ts', () => [], {
    ...env,
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'info',
    RATE_LIMIT_GLOBAL_PER_MINUTE: '1000000',
    RATE_LIMIT_LOGIN_PER_MINUTE: '1000000',
    RATE_LIMIT_LOGIN_FAILURES_PER_MINUTE: '1000000',
    RATE_LIMIT_REGISTER_PER_MINUTE: '1000000',
    // Shedding stays in the path but out of the way: on a busy machine a descheduled process lags past 100 ms.
    OVERLOAD_EVENT_LOOP_DELAY_MS: '60000',
  });

/**
 * CPU time of a process's main thread so far, in µs (from /proc, Linux; 0 elsewhere). On a machine shared with other
 * work, requests/s follow the share of the CPU a process gets; the CPU time each request costs does not. The main
 * thread only: the embedded queue's PGlite thread (its first run's initdb can take minutes on a loaded machine)
 * is not the request path.
 */
function cpuMicros(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
  } catch {
    return 0;
  }
}

function load(target: Target, options: { duration?: number; connections?: number; overallRate?: number } = {}): Promise<Result> {
  const pid = pidOf.get(new URL(target.url).origin);
  const cpuBefore = cpuMicros(pid);
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: target.url,
        method: target.method ?? 'GET',
        headers: target.headers,
        body: target.body,
        connections: options.connections ?? CONNECTIONS,
        duration: options.duration ?? DURATION,
        ...(target.paths
          ? {
              requests: [
                {
                  setupRequest: (request: autocannon.Request) => {
                    request.path = target.paths![Math.floor(Math.random() * target.paths!.length)];
                    return request;
                  },
                },
              ],
            }
          : {}),
        ...(options.overallRate ? { overallRate: options.overallRate } : {}),
      },
      (error, result) => {
        if (error) return reject(error instanceof Error ? error : new Error(String(error)));
        const cpuPerRequest = (cpuMicros(pid) - cpuBefore) / Math.max(1, result.requests.total);
        const meanMs = result.requests.total > 0 ? (result.connections * result.duration * 1000) / result.requests.total : 0;
        resolve({ rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx, cpuPerRequest, meanMs });
      },
    );
  });
}

/**
 * Requests still queued when a run ends keep the server busy (a slow endpoint can leave seconds of work);
 * wait until it answers a probe promptly again, so the next run starts on an idle server.
 */
async function settle(target: Target): Promise<void> {
  const probe = `${new URL(target.url).origin}/health/live`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const started = performance.now();
    await fetch(probe).catch(() => {});
    if (performance.now() - started < 20) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** How many warm-up windows a target gets at most (a window's CPU per request still moving is the JIT at work). */
const MAX_WARMUP_WINDOWS = 5;

/**
 * Loads a target in windows of --warmup seconds until its CPU per request (requests/s where CPU is not read) moves
 * less than 5% from one window to the next: V8 compiles hot code on one background thread (`--v8-pool-size=1`,
 * `npm start`'s setting), where our API's code takes 10–20 s of load to settle against a few for a bare route,
 * so a fixed warm-up compared a settled baseline with a process still compiling. Returns how many windows it took.
 */
async function warmUp(target: Target, connections: number): Promise<number> {
  let previous: number | undefined;
  for (let window = 1; ; window++) {
    const result = await load(target, { duration: WARMUP, connections });
    await settle(target);
    const measure = result.cpuPerRequest > 0 ? result.cpuPerRequest : 1 / Math.max(result.rps, 1);
    if ((previous !== undefined && Math.abs(measure - previous) / previous < 0.05) || window >= MAX_WARMUP_WINDOWS) return window;
    previous = measure;
  }
}

/** Loads each target in turn, ROUNDS times, and prints the medians; returns req/s by label. */
async function compare(title: string, targets: Target[], connections = CONNECTIONS): Promise<Map<string, Result>> {
  const runs = new Map<string, Result[]>(targets.map((target) => [target.label, []]));
  const warmups: string[] = [];
  for (const target of targets) {
    const windows = await warmUp(target, connections);
    warmups.push(`${target.label} ${windows}×${WARMUP} s`);
  }
  console.error(`  ${title} warm-up: ${warmups.join(', ')}`);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const target of targets) {
      const result = await load(target, { connections });
      await settle(target);
      runs.get(target.label)!.push(result);
      console.error(`  ${title} round ${round}/${ROUNDS} ${target.label}: ${Math.round(result.rps)} req/s`);
    }
  }
  const summary = new Map(
    [...runs].map(([label, results]) => [
      label,
      {
        rps: median(results.map((r) => r.rps)),
        p50: median(results.map((r) => r.p50)),
        p99: median(results.map((r) => r.p99)),
        errors: results.reduce((n, r) => n + r.errors, 0),
        cpuPerRequest: median(results.map((r) => r.cpuPerRequest)),
        meanMs: median(results.map((r) => r.meanMs)),
      },
    ]),
  );
  console.log(`\n${title}: ${connections} connections, warmed up until steady (windows of ${WARMUP} s, at most ${MAX_WARMUP_WINDOWS}), then ${ROUNDS} alternating rounds of ${DURATION} s; medians`);
  console.table(
    Object.fromEntries([...summary].map(([label, s]) => [label, { 'req/s': Math.round(s.rps), 'p50 ms': s.p50, 'p99 ms': s.p99, 'mean ms': Number(s.meanMs.toFixed(2)), 'non-2xx/errors': s.errors, 'CPU µs/req': Math.round(s.cpuPerRequest) }])),
  );
  return summary;
}

/** The requests/s ratio, and beside it the same ratio from CPU time per request (the one to trust on a busy machine). */
function ratio(summary: Map<string, Result>, over: string, under: string, note: string): void {
  const [a, b] = [summary.get(over)!, summary.get(under)!];
  const byCpu = a.cpuPerRequest > 0 ? `, by CPU per request ${(b.cpuPerRequest / a.cpuPerRequest).toFixed(2)}` : '';
  console.log(`  ${over} / ${under} = ${(a.rps / b.rps).toFixed(2)}${byCpu}   ${note}`);
}

async function createPostgresDatabase(suffix = ''): Promise<string | null> {
  const name = `abs_bench_${process.pid}${suffix}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await admin.connect();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.query(`create database ${name}`);
  } catch (error) {
    console.log(`Postgres at ${ADMIN_URL} is not reachable (${(error as Error).message}); Postgres targets are skipped`);
    return null;
  } finally {
    await admin.end().catch(() => {});
  }
  cleanups.push(async () => {
    const dropper = new pg.Client({ connectionString: ADMIN_URL });
    await dropper.connect();
    await dropper.query(`drop database if exists ${name} with (force)`);
    await dropper.end();
  });
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function trpc(base: string, path: string, input: unknown): Promise<unknown> {
  const response = await fetch(`${base}/trpc/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ json: input }) });
  const body = (await response.json()) as { result?: { data: { json: unknown } }; error?: unknown };
  if (!body.result) throw new Error(`${path} failed: ${JSON.stringify(body.error)}`);
  return body.result.data.json;
}

const loginBody = (username: string) => JSON.stringify({ json: { usernameOrEmail: username, password: 'benchmark password' } });

async function registerUser(base: string, username: string): Promise<string> {
  const result = (await trpc(base, 'auth.register', { username, email: `${username}@example.com`, password: 'benchmark password' })) as { token: string };
  return result.token;
}

async function foundationSuite(urls: { express: string; trpc: string; apiSqlite: string }): Promise<void> {
  const summary = await compare('health.check', [
    { label: '(a) plain express route', url: `${urls.express}/trpc/health.check` },
    { label: '(b) bare tRPC adapter', url: `${urls.trpc}/trpc/health.check` },
    { label: '(c) full stack', url: `${urls.apiSqlite}/trpc/health.check` },
    { label: '(d) full stack, REST', url: `${urls.apiSqlite}/api/health` },
  ]);
  ratio(summary, '(c) full stack', '(b) bare tRPC adapter', 'target ≥ 0.80: our middleware and context cost at most 20%');
  ratio(summary, '(b) bare tRPC adapter', '(a) plain express route', 'tRPC’s fetch-based adapter against plain express');
  ratio(summary, '(c) full stack', '(a) plain express route', 'our whole stack against plain express');
  ratio(summary, '(d) full stack, REST', '(c) full stack', 'GET /api/health against /trpc/health.check: the REST layer’s own cost');
}

async function authSuite(urls: { trpc: string; apiSqlite: string; sqliteFile: string }): Promise<void> {
  const sqliteToken = await registerUser(urls.apiSqlite, 'bench_sqlite');
  const targets: Target[] = [
    { label: 'bare tRPC trivial query', url: `${urls.trpc}/trpc/health.check` },
    { label: 'auth.me SQLite', url: `${urls.apiSqlite}/trpc/auth.me`, headers: { authorization: `Bearer ${sqliteToken}` } },
  ];
  const bySqlite = await start('scripts/bench/baselines.ts', (port) => ['me-sqlite', String(port), urls.sqliteFile]);
  // By hand as one would write it (its join is parsed and planned again at every run), and with our driver's fix.
  const bySqliteOnce = await start('scripts/bench/baselines.ts', (port) => ['me-sqlite-once', String(port), urls.sqliteFile]);
  targets.push(
    { label: 'by hand SQLite', url: `${bySqlite}/trpc/auth.me`, headers: { authorization: `Bearer ${sqliteToken}` } },
    { label: 'by hand SQLite, +?', url: `${bySqliteOnce}/trpc/auth.me`, headers: { authorization: `Bearer ${sqliteToken}` } },
  );

  const postgresUrl = await createPostgresDatabase();
  let apiPg: string | null = null;
  if (postgresUrl) {
    apiPg = await startApi(postgresUrl);
    const pgToken = await registerUser(apiPg, 'bench_pg');
    const byPg = await start('scripts/bench/baselines.ts', (port) => ['me-pg', String(port), postgresUrl]);
    targets.push(
      { label: 'auth.me Postgres', url: `${apiPg}/trpc/auth.me`, headers: { authorization: `Bearer ${pgToken}` } },
      { label: 'by hand Postgres', url: `${byPg}/trpc/auth.me`, headers: { authorization: `Bearer ${pgToken}` } },
    );
  }
  const summary = await compare('auth.me with a bearer token', targets);
  ratio(summary, 'auth.me SQLite', 'bare tRPC trivial query', 'target ≥ 0.70');
  ratio(summary, 'auth.me SQLite', 'by hand SQLite', 'our stack against the same work by hand');
  ratio(summary, 'auth.me SQLite', 'by hand SQLite, +?', 'the same, by hand planned once as our driver does');
  if (apiPg) {
    ratio(summary, 'auth.me Postgres', 'bare tRPC trivial query', 'target ≥ 0.50');
    ratio(summary, 'auth.me Postgres', 'by hand Postgres', 'our stack against the same work by hand');
  }

  // Logins: Argon2id runs on libuv's thread pool, so a stream of them must not stall other requests.
  for (const [name, base, user] of [['SQLite', urls.apiSqlite, 'bench_sqlite'], ['Postgres', apiPg, 'bench_pg']] as const) {
    if (!base) continue;
    const login: Target = { label: 'login', url: `${base}/trpc/auth.login`, method: 'POST', headers: { 'content-type': 'application/json' }, body: loginBody(user) };
    const other: Target = { label: 'health.check', url: `${base}/trpc/health.check` };
    await load(login, { connections: 4, overallRate: 20, duration: WARMUP });
    const alone = await load(other, { connections: 10, overallRate: 300, duration: DURATION });
    const [withLogins, logins] = await Promise.all([
      load(other, { connections: 10, overallRate: 300, duration: DURATION }),
      load(login, { connections: 4, overallRate: 20, duration: DURATION }),
    ]);
    console.log(`\nlogins on ${name} at 20/s (with 300 health.check/s beside them):`);
    console.table({
      'login': { 'req/s': Math.round(logins.rps), 'p50 ms': logins.p50, 'p99 ms': logins.p99, 'non-2xx/errors': logins.errors },
      'health.check alone': { 'req/s': Math.round(alone.rps), 'p50 ms': alone.p50, 'p99 ms': alone.p99, 'non-2xx/errors': alone.errors },
      'health.check with logins': { 'req/s': Math.round(withLogins.rps), 'p50 ms': withLogins.p50, 'p99 ms': withLogins.p99, 'non-2xx/errors': withLogins.errors },
    });
    console.log(`  p99 with logins / alone = ${(withLogins.p99 / Math.max(alone.p99, 1)).toFixed(2)}   target ≤ 2`);
  }
}

const query = (input: unknown) => `?input=${encodeURIComponent(JSON.stringify({ json: input }))}`;

/** A database of `counts`, migrated and seeded (with its progress bar) and analyzed; with an admin's token. */
async function seededDatabase(name: string, url: string, counts: { users: number; posts: number }): Promise<{ ids: string[] }> {
  const db = await openDatabase({ url });
  await db.migrate();
  console.error(`${name}: seeding ${counts.users} users and ${counts.posts} posts`);
  const seeded = await seed(db, counts);
  const { users } = db.tables;
  const ids = (await db.orm.select({ id: users.id }).from(users).limit(200)).map((row) => row.id);
  await db.close();
  console.log(`\n${name}: seeded ${seeded.users} users and ${seeded.posts} posts in ${seeded.seconds.toFixed(1)} s (with its statistics)   target < 180 s at 1,000,000`);
  return { ids };
}

/** Registers a user through the API and makes it an admin in the database; returns its bearer token. */
async function adminToken(base: string, url: string, username: string): Promise<string> {
  const token = await registerUser(base, username);
  const db = await openDatabase({ url });
  const { users } = db.tables;
  await db.orm.update(users).set({ role: 'admin' }).where(eq(users.usernameKey, username));
  await db.close();
  return token;
}

async function postsSuite(sqliteFile: string): Promise<void> {
  const counts = { users: Number(args.get('users') ?? 10_000), posts: Number(args.get('posts') ?? 100_000) };
  // Past --base (100,000) posts the run also seeds --base and measures both side by side: the ratio is the growth.
  const baseSize = Number(args.get('base') ?? 100_000);
  const sizes = counts.posts > baseSize ? [baseSize, counts.posts] : [counts.posts];
  // Each size's SQLite file in a directory of its own, as the embedded default keeps it: the API that serves it
  // claims the directory (server/control-socket.ts) and keeps its PGlite queue there.
  const databases: [string, Map<number, string>][] = [['SQLite', new Map(sizes.map((size) => [size, `file:${join(dirname(sqliteFile), `posts-${size}`, 'app.db')}`]))]];
  const onPostgres = new Map<number, string>();
  for (const size of sizes) {
    const url = await createPostgresDatabase(`_${size}`);
    if (url) onPostgres.set(size, url);
  }
  if (onPostgres.size === sizes.length) databases.push(['Postgres', onPostgres]);
  for (const [name, urls] of databases) {
    const bySize = new Map<number, { url: string; api: string; token: string }>();
    let profiles: string[] = [];
    let cached = '';
    for (const size of sizes) {
      const url = urls.get(size)!;
      const { ids } = await seededDatabase(`${name} ${size}`, url, { users: counts.users, posts: size });
      // Two processes on one SQLite file must not share its PGlite queue directory: the second gets one in memory.
      const ownQueue: Record<string, string> = url.startsWith('file:') ? { QUEUE_DATABASE_URL: 'memory:' } : {};
      const api = await startApi(url, { CACHE_TTL_SECONDS: '0' });
      const token = await adminToken(api, url, `bench_admin_${size}`);
      bySize.set(size, { url, api, token });
      if (size === counts.posts) {
        cached = await startApi(url, ownQueue);
        profiles = ids.map((id) => `/trpc/users.getWithPosts${query({ id })}`);
      }
    }
    const largest = bySize.get(counts.posts)!;
    const targets = (size: number): Target[] => {
      const { api, token } = bySize.get(size)!;
      const at = sizes.length > 1 ? ` @${size}` : '';
      return [
        { label: `posts.list${at}`, url: `${api}/trpc/posts.list${query({ limit: 20 })}` },
        { label: `posts.list q=${Q_COMMON}${at}`, url: `${api}/trpc/posts.list${query({ q: Q_COMMON, limit: 20 })}` },
        { label: `posts.list q=${Q_RARE}${at}`, url: `${api}/trpc/posts.list${query({ q: Q_RARE, limit: 20 })}` },
        { label: `admin.stats${at}`, url: `${api}/trpc/admin.stats`, headers: { authorization: `Bearer ${token}` } },
        // An admin looking a user up by a piece of the name, and by a piece of the e-mail that many users share.
        { label: `users.list q=${USERS_Q_RARE}${at}`, url: `${api}/trpc/users.list${query({ q: USERS_Q_RARE, limit: 20 })}`, headers: { authorization: `Bearer ${token}` } },
        { label: `users.list q=${USERS_Q_COMMON}${at}`, url: `${api}/trpc/users.list${query({ q: USERS_Q_COMMON, limit: 20 })}`, headers: { authorization: `Bearer ${token}` } },
      ];
    };
    const summary = await compare(`posts on ${name}`, [
      ...sizes.flatMap(targets),
      { label: 'users.getWithPosts cached', url: cached, paths: profiles },
      { label: 'users.getWithPosts uncached', url: largest.api, paths: profiles },
    ]);
    ratio(summary, 'users.getWithPosts cached', 'users.getWithPosts uncached', 'target ≥ 1.5 on Postgres');
    for (const size of sizes) {
      const [list, ...searches] = targets(size);
      console.log(`  ${list.label}: ${Math.round(summary.get(list.label)!.rps)} req/s, p99 ${summary.get(list.label)!.p99} ms   target ≥ 2000 req/s, p99 < 50 ms at 100,000`);
      for (const search of searches.slice(0, 2)) console.log(`  ${search.label}: ${Math.round(summary.get(search.label)!.rps)} req/s   target ≥ 300 at 100,000`);
    }
    // Latency with the server otherwise idle: one client at a time, every size side by side.
    const latency = await compare(`latency on ${name}, one client`, sizes.flatMap(targets), 1);
    for (const target of sizes.flatMap(targets)) {
      const p50 = latency.get(target.label)!.p50;
      const goal = target.label.startsWith('admin.stats') ? 'target < 5 ms' : target.label.startsWith('posts.list q=') ? 'target < 10 ms at 100,000' : '';
      console.log(`  ${target.label} p50 = ${p50} ms (mean ${latency.get(target.label)!.meanMs.toFixed(2)} ms)   ${goal}`);
    }
    if (sizes.length > 1) {
      const [small, large] = [targets(sizes[0]), targets(sizes[1])];
      for (let i = 0; i < small.length; i++) {
        const [a, b] = [latency.get(small[i].label)!, latency.get(large[i].label)!];
        // The mean, to a fraction of a millisecond, beside the whole-millisecond percentiles (see Result).
        console.log(`  ${large[i].label} / ${small[i].label}: p50 ${(b.p50 / Math.max(a.p50, 1)).toFixed(2)}×, mean ${(b.meanMs / a.meanMs).toFixed(2)}×, p99 ${(b.p99 / Math.max(a.p99, 1)).toFixed(2)}×   target ≤ 1.5`);
      }
    }
    await stopAll();
    if (name === 'SQLite') await eventLoopStalls(largest.url, `SQLite, ${counts.posts} posts`);
  }
}

/** Resident memory of a process, from /proc (Linux). */
function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024);
}

/** How long the last run's submissions took (the rest of its time was the worker catching up). */
let lastSubmitSeconds = 0;

/** Submits `count` trivial tasks through the API (batches of 50, 4 in flight) and times them until all completed. */
async function tasksEndToEnd(base: string, count: number, completed: () => Promise<number>): Promise<number> {
  const token = await registerUser(base, `bench_${Math.random().toString(36).slice(2, 8)}`);
  const already = await completed();
  const started = performance.now();
  const batches = Array.from({ length: Math.ceil(count / 50) }, (_, b) => Math.min(50, count - b * 50));
  const submitBatch = async (size: number) => {
    const paths = Array.from({ length: size }, () => 'tasks.submit').join(',');
    const body = Object.fromEntries(Array.from({ length: size }, (_, i) => [i, { json: { type: 'math.sum', input: { numbers: [i, 1] } } }]));
    const response = await fetch(`${base}/trpc/${paths}?batch=1`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`tasks.submit batch failed: ${response.status} ${await response.text()}`);
  };
  for (let i = 0; i < batches.length; i += 4) await Promise.all(batches.slice(i, i + 4).map(submitBatch));
  lastSubmitSeconds = (performance.now() - started) / 1000;
  // A queue that never works them (one whose start hung) fails the run instead of holding it forever.
  const deadline = Date.now() + 300_000;
  for (;;) {
    const done = (await completed()) - already;
    if (done >= count) break;
    if (Date.now() > deadline) throw new Error(`${done} of ${count} tasks completed within 300 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return (performance.now() - started) / 1000;
}

async function jobsSuite(): Promise<void> {
  const count = Number(args.get('tasks') ?? 3000);
  const concurrency = args.get('concurrency') ?? '8';
  const postgresUrl = await createPostgresDatabase();
  const rows: Record<string, Record<string, string | number>> = {};
  if (postgresUrl) {
    const pool = new pg.Pool({ connectionString: postgresUrl, max: 2 });
    cleanups.unshift(() => pool.end());
    const api = await startApi(postgresUrl, { WORKER_IN_PROCESS: 'false', WORKER_CONCURRENCY: concurrency });
    const idleRss = rssMiB(children.at(-1)!.pid!);
    await startWorker({ DATABASE_URL: postgresUrl, NODE_ENV: 'production', MIGRATE_ON_START: 'false', WORKER_CONCURRENCY: concurrency });
    const completed = async () => (await pool.query<{ n: number }>("select count(*)::int as n from tasks where status = 'completed'")).rows[0].n;
    const workerPid = children.at(-1)!.pid;
    const apiPid = pidOf.get(api);
    // Bare pg-boss in a process of its own, kept for every round as our API and worker are.
    const baseline = fork(join(root, 'scripts/bench/jobs-baseline.ts'), [postgresUrl, concurrency], { execArgv: SERVER_NODE_ARGS, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(baseline);
    const answer = () =>
      new Promise<Record<string, number>>((resolve, reject) => {
        const exited = (code: number | null) => reject(new Error(`the pg-boss baseline exited with ${code}`));
        baseline.once('exit', exited);
        baseline.once('message', (message: Record<string, number>) => {
          baseline.off('exit', exited);
          resolve(message);
        });
      });
    await answer(); // ready
    type BareRound = { jobs: number; seconds: number; cpuMicros: number; postgresCpuMicros: number };
    const bareRound = async (jobs: number) => {
      const reply = answer();
      baseline.send({ jobs });
      return (await reply) as BareRound;
    };
    const oursRound = async (tasks: number) => {
      const before = { api: cpuMicros(apiPid), worker: cpuMicros(workerPid), postgres: postgresCpuMicros() };
      const seconds = await tasksEndToEnd(api, tasks, completed);
      const perTask = (from: number, to: number) => (to - from) / tasks;
      return { seconds, submitting: lastSubmitSeconds, api: perTask(before.api, cpuMicros(apiPid)), worker: perTask(before.worker, cpuMicros(workerPid)), postgres: perTask(before.postgres, postgresCpuMicros()) };
    };
    // Warm-up, then alternating rounds: the two share the machine in turns, so a busy spell weighs on both alike.
    await oursRound(200);
    await bareRound(200);
    const ours: Awaited<ReturnType<typeof oursRound>>[] = [];
    const bare: BareRound[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      ours.push(await oursRound(count));
      bare.push(await bareRound(count));
      console.error(`  tasks round ${round}/${ROUNDS}: ours ${Math.round(count / ours.at(-1)!.seconds)} tasks/s, bare pg-boss ${Math.round(count / bare.at(-1)!.seconds)} tasks/s`);
    }
    const oursRate = median(ours.map((run) => count / run.seconds));
    const bareRate = median(bare.map((run) => run.jobs / run.seconds));
    const oursCpu = { api: Math.round(median(ours.map((run) => run.api))), worker: Math.round(median(ours.map((run) => run.worker))) };
    rows['our tasks: API + 1 worker process (Postgres)'] = {
      'tasks/s': Math.round(oursRate),
      seconds: Number(median(ours.map((run) => run.seconds)).toFixed(2)),
      'of which submitting': Number(median(ours.map((run) => run.submitting)).toFixed(2)),
      'CPU µs/task: node': oursCpu.api + oursCpu.worker,
      'CPU µs/task: Postgres': Math.round(median(ours.map((run) => run.postgres))),
      'API idle RSS MiB': idleRss,
    };
    rows['bare pg-boss send/work/complete'] = {
      'tasks/s': Math.round(bareRate),
      seconds: Number(median(bare.map((run) => run.seconds)).toFixed(2)),
      'of which submitting': '',
      'CPU µs/task: node': Math.round(median(bare.map((run) => run.cpuMicros / run.jobs))),
      'CPU µs/task: Postgres': Math.round(median(bare.map((run) => run.postgresCpuMicros / run.jobs))),
      'API idle RSS MiB': '',
    };
    console.log(`\nend-to-end tasks (submit → completed and visible), ${count} math.sum tasks per round, concurrency ${concurrency}, ${ROUNDS} alternating rounds; medians`);
    console.table(rows);
    console.log(`  ours / bare = ${(oursRate / bareRate).toFixed(2)} (rounds: ${ours.map((run, i) => (bare[i].seconds / run.seconds).toFixed(2)).join(', ')})   target ≥ 0.85, and ≥ 600 tasks/s (issue 12)`);
    console.log(`  our node CPU per task: API ${oursCpu.api} µs, worker ${oursCpu.worker} µs (main threads); Postgres: every postgres process on the machine`);
  }
  // The embedded default: SQLite app data, pg-boss on PGlite inside the API process.
  const embeddedDir = mkdtempSync(join(tmpdir(), 'bench-embedded-'));
  cleanups.push(async () => rmSync(embeddedDir, { recursive: true, force: true }));
  const embedded = await startApi(`file:${join(embeddedDir, 'app.db')}`, { WORKER_CONCURRENCY: concurrency });
  const embeddedRss = rssMiB(children.at(-1)!.pid!);
  const embeddedCount = Math.min(count, 1000);
  const sqlite = new BetterSqlite3(join(embeddedDir, 'app.db'), { readonly: true });
  cleanups.unshift(async () => {
    sqlite.close();
  });
  const completedEmbedded = async () => (sqlite.prepare("select count(*) as n from tasks where status = 'completed'").get() as { n: number }).n;
  await tasksEndToEnd(embedded, 100, completedEmbedded);
  const seconds = await tasksEndToEnd(embedded, embeddedCount, completedEmbedded);
  console.table({
    'embedded: SQLite + PGlite in the API process': {
      'tasks/s': Math.round(embeddedCount / seconds),
      seconds: Number(seconds.toFixed(2)),
      'of which submitting': Number(lastSubmitSeconds.toFixed(2)),
      'API idle RSS MiB': embeddedRss,
    },
  });
}

/** Resident memory of a process in KiB, from /proc (Linux). */
function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

const percentile = (values: number[], p: number) => [...values].sort((x, y) => x - y)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))];

/** The API's live_subscribers{stream="tasks"} gauge, from /metrics. */
async function subscriberGauge(base: string, token: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
  return Number(/^live_subscribers\{stream="tasks"\} (\d+)/m.exec(text)?.[1] ?? NaN);
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * One `GET /api/tasks/events` stream: for each `completed` event, how long after the task's finishedAt (stamped
 * by the worker just before its commit) it arrived here.
 */
function openStream(base: string, token: string, latencies: number[], signal: AbortSignal): Promise<void> {
  return fetch(`${base}/api/tasks/events`, { headers: { authorization: `Bearer ${token}` }, signal }).then(async (response) => {
    if (response.status !== 200) throw new Error(`stream refused: ${response.status} ${await response.text()}`);
    const reader = response.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    const decoder = new TextDecoder();
    let buffer = '';
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buffer += decoder.decode(value, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) !== -1) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (!data) continue;
            const task = JSON.parse(data) as { status: string; finishedAt: string | null };
            if (task.status === 'completed' && task.finishedAt) latencies.push(Date.now() - Date.parse(task.finishedAt));
          }
        }
      } catch {
        // Aborted at the end of the run.
      }
    })();
  });
}

/**
 * Live updates, Postgres mode: one API process with SUBSCRIBERS idle `tasks.onChange` streams (50 users × 20, over
 * /api's text/event-stream), a worker in another process. Commit → client latency of completions, RSS per idle
 * subscriber, the subscriber count and RSS after they all leave; then the tasks throughput with notifications
 * on and off (two API + worker pairs on databases of their own, alternating runs).
 */
async function liveSuite(): Promise<void> {
  const parts = (args.get('live-parts') ?? 'latency,throughput').split(',');
  if (parts.includes('latency')) await liveLatency();
  if (parts.includes('throughput')) await liveThroughput();
}

/** The API's V8 heap in use (MiB), from /metrics. */
async function heapMiB(base: string, token: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
  return +(Number(/^nodejs_heap_size_used_bytes (\d+)/m.exec(text)?.[1] ?? NaN) / 1024 / 1024).toFixed(1);
}

async function liveLatency(): Promise<void> {
  const subscribers = Number(args.get('subscribers') ?? 1000);
  const taskCount = Number(args.get('live-tasks') ?? 200);
  const postgresUrl = await createPostgresDatabase('_live');
  if (!postgresUrl) return;
  const metricsToken = 'bench-metrics-token-0123456789';
  const api = await startApi(postgresUrl, { WORKER_IN_PROCESS: 'false', METRICS_TOKEN: metricsToken });
  const apiPid = children.at(-1)!.pid!;
  await startWorker({ DATABASE_URL: postgresUrl, NODE_ENV: 'production', MIGRATE_ON_START: 'false' });
  const users = Math.ceil(subscribers / 20);
  const tokens: string[] = [];
  for (let i = 0; i < users; i++) tokens.push(await registerUser(api, `live_${i}_${Math.random().toString(36).slice(2, 6)}`));
  const submit = (token: string, n: number) =>
    fetch(`${api}/trpc/tasks.submit`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ json: { type: 'math.sum', input: { numbers: [n] } } }) });

  // Warm-up: a few streams and tasks through the whole path (JIT, pools, the LISTEN connection).
  const warm = new AbortController();
  const warmLatencies: number[] = [];
  await Promise.all(tokens.slice(0, 5).map((token) => openStream(api, token, warmLatencies, warm.signal)));
  for (let i = 0; i < 50; i++) await submit(tokens[i % 5], i);
  await until('warm-up events', async () => warmLatencies.length >= 50);
  warm.abort();
  await until('warm-up streams closed', async () => (await subscriberGauge(api, metricsToken)) === 0);
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const rssBefore = rssKiB(apiPid);
  const heapBefore = await heapMiB(api, metricsToken);

  const abort = new AbortController();
  const latencies: number[] = [];
  for (let i = 0; i < subscribers; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, subscribers - i) }, (_, j) => openStream(api, tokens[(i + j) % users], latencies, abort.signal)));
  }
  await until('every stream counted', async () => (await subscriberGauge(api, metricsToken)) === subscribers);
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const rssIdle = rssKiB(apiPid);
  const heapIdle = await heapMiB(api, metricsToken);

  // Tasks spread over the users, about 20 a second; each completion reaches its user's 20 streams.
  for (let i = 0; i < taskCount; i++) {
    await submit(tokens[i % users], i);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const expected = taskCount * Math.floor(subscribers / users);
  await until('every completion delivered', async () => latencies.length >= expected);
  const rssBusy = rssKiB(apiPid);
  const heapBusy = await heapMiB(api, metricsToken);

  abort.abort();
  await until('subscriber count back to 0', async () => (await subscriberGauge(api, metricsToken)) === 0);
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  const rssAfter = rssKiB(apiPid);
  const heapAfter = await heapMiB(api, metricsToken);
  // V8 gives memory back to the system when it finds the process idle: look again later.
  await new Promise((resolve) => setTimeout(resolve, 20_000));
  const rssLater = rssKiB(apiPid);
  const heapLater = await heapMiB(api, metricsToken);

  console.log(`\nlive updates: ${subscribers} tasks.onChange streams (${users} users × ${subscribers / users}) on one API process, worker in another; ${taskCount} tasks, ${latencies.length} completion events`);
  console.table({
    'commit → client latency (ms)': { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: percentile(latencies, 100) },
  });
  console.table({
    'API RSS (MiB)': {
      'before streams': +(rssBefore / 1024).toFixed(1),
      [`${subscribers} idle streams`]: +(rssIdle / 1024).toFixed(1),
      'after the tasks': +(rssBusy / 1024).toFixed(1),
      'all closed (+5 s)': +(rssAfter / 1024).toFixed(1),
      'all closed (+25 s)': +(rssLater / 1024).toFixed(1),
    },
    'V8 heap used (MiB)': {
      'before streams': heapBefore,
      [`${subscribers} idle streams`]: heapIdle,
      'after the tasks': heapBusy,
      'all closed (+5 s)': heapAfter,
      'all closed (+25 s)': heapLater,
    },
  });
  console.log(`  p50 ${percentile(latencies, 50)} ms (target < 50), p99 ${percentile(latencies, 99)} ms (target < 250)`);
  console.log(`  RSS per idle stream = ${((rssIdle - rssBefore) / subscribers).toFixed(1)} KiB (target ≤ 30); after all closed: ${(((rssLater - rssBefore) / rssBefore) * 100).toFixed(1)} % from before at +25 s (target within 10 %); subscriber gauge back to 0`);
  await stopAll();
}

/** Throughput with notifications on and off: the same pipeline twice, each on its own database. */
async function liveThroughput(): Promise<void> {
  const count = Number(args.get('tasks') ?? 2000);
  const concurrency = args.get('concurrency') ?? '8';
  const pairs: { label: string; api: string; completed: () => Promise<number> }[] = [];
  for (const [label, live] of [
    ['notifications on', 'true'],
    ['notifications off (LIVE_UPDATES=false)', 'false'],
  ] as const) {
    const created = await createPostgresDatabase(live === 'true' ? '_on' : '_off');
    if (!created) return;
    const url = args.has('pg-options') ? `${created}?options=${encodeURIComponent(args.get('pg-options')!)}` : created;
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    cleanups.unshift(() => pool.end());
    const base = await startApi(url, { WORKER_IN_PROCESS: 'false', WORKER_CONCURRENCY: concurrency, LIVE_UPDATES: live });
    await startWorker({ DATABASE_URL: url, NODE_ENV: 'production', MIGRATE_ON_START: 'false', WORKER_CONCURRENCY: concurrency, LIVE_UPDATES: live });
    const completed = async () => (await pool.query<{ n: number }>("select count(*)::int as n from tasks where status = 'completed'")).rows[0].n;
    await tasksEndToEnd(base, 200, completed);
    pairs.push({ label, api: base, completed });
  }
  const seconds = new Map<string, number[]>(pairs.map((pair) => [pair.label, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const pair of pairs) {
      const took = await tasksEndToEnd(pair.api, count, pair.completed);
      seconds.get(pair.label)!.push(took);
      console.error(`  tasks round ${round}/${ROUNDS} ${pair.label}: ${Math.round(count / took)} tasks/s`);
    }
  }
  const rate = (label: string) => count / median(seconds.get(label)!);
  console.log(`\ntasks throughput, notifications on vs off: ${count} math.sum tasks per run, concurrency ${concurrency}, ${ROUNDS} alternating rounds; medians`);
  console.table(Object.fromEntries(pairs.map(({ label }) => [label, { 'tasks/s': Math.round(rate(label)), runs: seconds.get(label)!.map((s) => Math.round(count / s)).join(' ') }])));
  console.log(`  on / off = ${(rate(pairs[0].label) / rate(pairs[1].label)).toFixed(3)}   target ≥ 0.95`);
}

/** Each suite's servers keep running (idle) through the next ones: stop them between suites instead. */
async function stopAll(): Promise<void> {
  for (const child of children.splice(0)) await stopChild(child);
}

/** Start-up time and idle memory of each process, on Postgres and embedded (warm and first run). */
async function startup(): Promise<void> {
  const postgresUrl = await createPostgresDatabase();
  const warmDir = mkdtempSync(join(tmpdir(), 'bench-warm-'));
  cleanups.push(async () => rmSync(warmDir, { recursive: true, force: true }));
  const cases: Parameters<typeof startupSuite>[0] = [];
  if (postgresUrl) {
    // Migrated, with pg-boss's schema and queues, as a deployed database is before a process starts.
    const db = await openDatabase({ url: postgresUrl });
    await db.migrate();
    await db.close();
    await startApi(postgresUrl);
    await stopAll();
    const env = { DATABASE_URL: postgresUrl, MIGRATE_ON_START: 'false', WORKER_IN_PROCESS: 'false' };
    cases.push({ label: 'API, Postgres', script: 'server/main.ts', env: () => env }, { label: 'worker, Postgres', script: 'jobs/worker.ts', env: () => env });
  }
  // Warm: the SQLite file and the PGlite queue exist already (made by one start that is not measured).
  await startApi(`file:${join(warmDir, 'app.db')}`);
  await stopAll();
  cases.push(
    { label: 'API, embedded warm', script: 'server/main.ts', env: () => ({ DATABASE_URL: `file:${join(warmDir, 'app.db')}` }), queue: true },
    { label: 'API, embedded first run', script: 'server/main.ts', env: (fresh) => ({ DATABASE_URL: `file:${join(fresh(), 'app.db')}` }), queue: true },
  );
  await startupSuite(cases, { starts: Number(args.get('starts') ?? 5) });
}

/** Memory after a minute of load against idle, on Postgres and embedded. */
async function memory(): Promise<void> {
  const postgresUrl = await createPostgresDatabase();
  const embeddedDir = mkdtempSync(join(tmpdir(), 'bench-memory-'));
  cleanups.push(async () => rmSync(embeddedDir, { recursive: true, force: true }));
  const cases: Parameters<typeof memorySuite>[0] = [];
  if (postgresUrl) cases.push({ label: 'API, Postgres (worker in process)', env: { DATABASE_URL: postgresUrl, WORKER_IN_PROCESS: 'true' } });
  // Warm, as the idle target is (a first run's start-up is the startup suite's), and read once PGlite has opened.
  cases.push({ label: 'API, embedded warm (queue open)', env: { DATABASE_URL: `file:${join(embeddedDir, 'app.db')}` }, queue: true, warm: true });
  await memorySuite(cases, { loadSeconds: Number(args.get('load-seconds') ?? 60), settleSeconds: Number(args.get('settle-seconds') ?? 50) });
}

try {
  console.log(`node ${process.version}, ${SUITE} suite(s)`);
  const sqliteFile = join(dataDir, 'bench.db');
  const runs = (suite: string) => SUITE === 'all' || SUITE === suite;
  if (runs('foundation') || runs('auth')) {
    const [express, trpcBase, apiSqlite] = await Promise.all([
      start('scripts/bench/baselines.ts', (port) => ['express', String(port)]),
      start('scripts/bench/baselines.ts', (port) => ['trpc', String(port)]),
      startApi(`file:${sqliteFile}`),
    ]);
    // A fresh embedded API makes its queue's database and opens PGlite beside the requests for several seconds:
    // the request path is measured once that is done, as it is for every request after.
    await queueOpen('API, embedded', apiSqlite);
    if (runs('foundation')) await foundationSuite({ express, trpc: trpcBase, apiSqlite });
    if (runs('auth')) await authSuite({ trpc: trpcBase, apiSqlite, sqliteFile });
  }
  if (runs('posts')) {
    await stopAll();
    await postsSuite(sqliteFile);
  }
  if (runs('jobs')) {
    await stopAll();
    await jobsSuite();
  }
  if (runs('live')) {
    await stopAll();
    await liveSuite();
  }
  if (runs('startup')) {
    await stopAll();
    await startup();
  }
  if (runs('memory')) {
    await stopAll();
    await memory();
  }
  if (SUITE === 'soak') {
    const postgresUrl = await createPostgresDatabase();
    const targets = [{ label: 'embedded (SQLite + PGlite)', databaseUrl: `file:${join(dataDir, 'soak', 'app.db')}` }];
    if (postgresUrl) targets.push({ label: 'Postgres', databaseUrl: postgresUrl });
    // --targets=embedded or --targets=postgres runs one of them.
    const only = args.get('targets');
    await soakSuite(only ? targets.filter((target) => target.label.toLowerCase().startsWith(only)) : targets, { minutes: Number(args.get('minutes') ?? 10) });
  }
  if (SUITE === 'stalls') {
    // The event-loop part of the posts suite on a SQLite file of your own (seeded with `npm run seed`, say).
    const database = args.get('database');
    if (!database?.startsWith('file:')) throw new Error('--suite=stalls needs --database=file:<path to a seeded SQLite file>');
    await eventLoopStalls(database, database.replace(/^file:/, ''));
  }
  if (runs('overload')) {
    await stopAll();
    await overloadSuite({ thresholds: (args.get('thresholds') ?? '').split(',').filter(Boolean).map(Number) });
  }
} finally {
  await Promise.all(children.map(stopChild));
  for (const cleanup of cleanups) await cleanup().catch((error: unknown) => console.error(error));
  rmSync(dataDir, { recursive: true, force: true });
}
