// The bench's memory suite: an API process idle, under a minute of load (reads, and task submissions that its
// workers run), and once it has been idle again; the promise is that the resident memory settles back.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { freePort } from '../../server/testing/ports.ts';
import { SERVER_NODE_ARGS } from '../../server/runtime/node-args.ts';
import { stopChild } from './proc.ts';

const root = join(import.meta.dirname, '..', '..');
const rssMiB = (pid: number) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `queue`: idle is read once the process's queue has worked a task (the embedded API answers before its PGlite queue
 * has opened, and opening it is most of its memory). `warm`: started once before, so the run measured finds its
 * databases made (a first run's PGlite initdb is start-up work the startup suite measures on its own).
 */
export type MemoryCase = { label: string; env: Record<string, string>; queue?: boolean; warm?: boolean };
export type MemoryOptions = { loadSeconds: number; settleSeconds: number; idleSeconds?: number; connections?: number };

async function post(base: string, path: string, input: unknown, token?: string): Promise<unknown> {
  const response = await fetch(`${base}/trpc/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ json: input }),
  });
  const body = (await response.json()) as { result?: { data: { json: unknown } }; error?: unknown };
  if (!body.result) throw new Error(`${path} failed: ${JSON.stringify(body.error)}`);
  return body.result.data.json;
}

const METRICS_TOKEN = 'bench-memory-metrics';

/** The V8 heap (used / total) and memory outside it (ArrayBuffers, native), in MiB, from the process's own /metrics. */
async function heapOf(base: string): Promise<string> {
  const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
  const mib = (name: string) => Math.round(Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20);
  return `${mib('nodejs_heap_size_used_bytes')}/${mib('nodejs_heap_size_total_bytes')}/${mib('nodejs_external_memory_bytes')}`;
}

async function get(base: string, path: string, input: unknown, token: string): Promise<unknown> {
  const response = await fetch(`${base}/trpc/${path}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await response.json()) as { result?: { data: { json: unknown } }; error?: unknown };
  if (!body.result) throw new Error(`${path} failed: ${JSON.stringify(body.error)}`);
  return body.result.data.json;
}

/** An API process in production mode, once /health/ready answers 200. */
async function startApi(label: string, env: Record<string, string>) {
  const port = await freePort();
  const child = spawn(process.execPath, [...SERVER_NODE_ARGS, 'server/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      RATE_LIMIT_GLOBAL_PER_MINUTE: '1000000',
      RATE_LIMIT_REGISTER_PER_MINUTE: '1000000',
      ...env,
      METRICS_TOKEN,
      PORT: String(port),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    const deadline = Date.now() + 120_000;
    while ((await fetch(`${base}/health/ready`).then((response) => response.status, () => 0)) !== 200) {
      if (child.exitCode !== null) throw new Error(`${label}: the API exited with ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error(`${label}: not ready within 120 s`);
      await sleep(50);
    }
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return { child, base };
}

/** Submits a task and waits until the process's queue has run it. */
async function queueWorks(label: string, base: string, token: string): Promise<void> {
  const { id } = (await post(base, 'tasks.submit', { type: 'math.sum', input: { numbers: [1, 2] } }, token)) as { id: string };
  const deadline = Date.now() + 120_000;
  while (((await get(base, 'tasks.get', { id }, token)) as { status: string }).status !== 'completed') {
    if (Date.now() > deadline) throw new Error(`${label}: its queue did not run a task within 120 s`);
    await sleep(100);
  }
}

/**
 * Waits until an API's queue has run a task (a user of its own submits it). The embedded API answers while its
 * PGlite queue is still opening (a first run makes its database in a child process): suites that measure the
 * request path wait for this, so the opening's CPU is not part of their rounds.
 */
export async function queueOpen(label: string, base: string): Promise<void> {
  await queueWorks(label, base, await register(base));
}

async function register(base: string): Promise<string> {
  const username = `mem_${Math.random().toString(36).slice(2, 8)}`;
  const { token } = (await post(base, 'auth.register', { username, email: `${username}@example.com`, password: 'benchmark password' })) as { token: string };
  return token;
}

async function measure({ label, env, queue, warm }: MemoryCase, options: MemoryOptions): Promise<Record<string, number | string>> {
  if (warm) {
    const first = await startApi(label, env);
    try {
      if (queue) await queueWorks(label, first.base, await register(first.base));
    } finally {
      await stopChild(first.child);
    }
  }
  const { child, base } = await startApi(label, env);
  try {
    const token = await register(base);
    if (queue) await queueWorks(label, base, token);
    await sleep((options.idleSeconds ?? 3) * 1000);
    const idle = rssMiB(child.pid!);
    const idleHeap = await heapOf(base);

    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(child.pid!))), 1000);
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    // Each connection repeats: nine reads of the caller's account, then one task submission (run by the workers).
    const reads = Array.from({ length: 9 }, () => ({ method: 'GET' as const, path: '/trpc/auth.me', headers }));
    const submit = { method: 'POST' as const, path: '/trpc/tasks.submit', headers, body: JSON.stringify({ json: { type: 'math.sum', input: { numbers: [1, 2] } } }) };
    const result = await new Promise<autocannon.Result>((resolve, reject) =>
      autocannon({ url: base, connections: options.connections ?? 20, duration: options.loadSeconds, requests: [...reads, submit] }, (error, out) =>
        error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(out),
      ),
    );
    clearInterval(sampler);
    const loaded = rssMiB(child.pid!);
    const loadedHeap = await heapOf(base);
    await sleep(options.settleSeconds * 1000);
    const settled = rssMiB(child.pid!);
    const settledHeap = await heapOf(base);
    return {
      'idle MiB': idle,
      'peak under load MiB': peak,
      'at end of load MiB': loaded,
      [`${options.settleSeconds} s later MiB`]: settled,
      'settled / idle': Number((settled / idle).toFixed(2)),
      'heap used/total/external MiB: idle, end, later': `${idleHeap}, ${loadedHeap}, ${settledHeap}`,
      'req/s': Math.round(result.requests.average),
      'non-2xx': result.non2xx + result.errors,
    };
  } finally {
    await stopChild(child);
  }
}

/** Prints, per case: idle RSS, the peak under load, RSS at the end and after settling, and settled / idle. */
export async function memorySuite(cases: MemoryCase[], options: MemoryOptions): Promise<void> {
  const rows: Record<string, Record<string, number | string>> = {};
  for (const memoryCase of cases) rows[memoryCase.label] = await measure(memoryCase, options);
  console.log(`\nmemory: RSS idle (3 s after ready; where marked, after its queue ran a task), during ${options.loadSeconds} s of load (9 auth.me : 1 tasks.submit), and ${options.settleSeconds} s after it`);
  console.table(rows);
  console.log('  target: settled / idle ≤ 1.2');
}
