// npm run bench: starts each target in its own process and loads it with autocannon from this one, in
// alternating rounds, then prints requests/s, latency and the ratios between targets measured in the same run.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

type Target = { name: string; label: string; start(port: number): Promise<ChildProcess>; path: string };
type Result = { rps: number; p50: number; p99: number; errors: number };

const args = new Map(process.argv.slice(2).map((arg) => arg.replace(/^--/, '').split('=') as [string, string]));
const DURATION = Number(args.get('duration') ?? 5);
const ROUNDS = Number(args.get('rounds') ?? 3);
const CONNECTIONS = Number(args.get('connections') ?? 50);
const root = join(import.meta.dirname, '..');

async function waitForHttp(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${url}: server exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not come up within 30 s`);
}

function startProcess(script: string, argv: string[], env: Record<string, string>): ChildProcess {
  return fork(join(root, script), argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
}

const dataDir = mkdtempSync(join(tmpdir(), 'bench-'));
const targets: Target[] = [
  {
    name: 'a',
    label: '(a) plain express route',
    path: '/trpc/health.check',
    start: async (port) => startProcess('scripts/bench/baselines.ts', ['express', String(port)], {}),
  },
  {
    name: 'b',
    label: '(b) bare tRPC express adapter',
    path: '/trpc/health.check',
    start: async (port) => startProcess('scripts/bench/baselines.ts', ['trpc', String(port)], {}),
  },
  {
    name: 'c',
    label: '(c) full stack health.check',
    path: '/trpc/health.check',
    start: async (port) =>
      startProcess('server/main.ts', [], {
        NODE_ENV: 'production',
        PORT: String(port),
        DATABASE_URL: `file:${join(dataDir, 'bench.db')}`,
        LOG_LEVEL: 'info',
      }),
  },
];

function load(url: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections: CONNECTIONS, duration: DURATION }, (error, result) => {
      if (error) return reject(error instanceof Error ? error : new Error(String(error)));
      resolve({ rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx });
    });
  });
}

const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)];

const children: ChildProcess[] = [];
try {
  const urls = new Map<string, string>();
  let port = 41_000 + Math.floor(Math.random() * 1000);
  for (const target of targets) {
    const child = await target.start(++port);
    children.push(child);
    const url = `http://127.0.0.1:${port}${target.path}`;
    await waitForHttp(url, child);
    urls.set(target.name, url);
  }
  const results = new Map<string, Result[]>(targets.map((target) => [target.name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const target of targets) {
      const result = await load(urls.get(target.name)!);
      results.get(target.name)!.push(result);
      console.error(`round ${round}/${ROUNDS} ${target.label}: ${Math.round(result.rps)} req/s`);
    }
  }
  const summary = new Map(
    targets.map((target) => {
      const runs = results.get(target.name)!;
      return [target.name, { rps: median(runs.map((r) => r.rps)), p50: median(runs.map((r) => r.p50)), p99: median(runs.map((r) => r.p99)), errors: runs.reduce((n, r) => n + r.errors, 0) }];
    }),
  );
  console.log(`\n${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${DURATION}s each, medians (node ${process.version})\n`);
  console.table(
    Object.fromEntries(
      targets.map((target) => {
        const s = summary.get(target.name)!;
        return [target.label, { 'req/s': Math.round(s.rps), 'p50 ms': s.p50, 'p99 ms': s.p99, errors: s.errors }];
      }),
    ),
  );
  const ratio = (x: string, y: string) => (summary.get(x)!.rps / summary.get(y)!.rps).toFixed(2);
  console.log(`(c)/(b) = ${ratio('c', 'b')}   target ≥ 0.80: our middleware and context cost at most 20%`);
  console.log(`(b)/(a) = ${ratio('b', 'a')}   tRPC's fetch-based adapter against plain express`);
  console.log(`(c)/(a) = ${ratio('c', 'a')}`);
} finally {
  for (const child of children) child.kill('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
}
