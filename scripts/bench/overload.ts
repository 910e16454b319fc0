// The bench's overload suite: the API's capacity on one endpoint, then ten times that offered to it, with load
// shedding at its default threshold and turned off, side by side: what callers get (served, refused, latency),
// whether the liveness probe still answers, how much memory it takes, and how fast it is normal again.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { sheddingThresholdMs } from '../../server/http/overload.ts';
import { startBenchApi, type BenchApi } from './api-process.ts';

const rssMiB = (pid: number) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Api = BenchApi;

const startApi = (dataDir: string, threshold: number): Promise<Api> =>
  startBenchApi({ DATABASE_URL: `file:${join(dataDir, 'app.db')}`, OVERLOAD_EVENT_LOOP_DELAY_MS: String(threshold) });
const stopApi = (api: Api) => api.stop();

type Run = { served: number; refused: number; failed: number; p50: number; p99: number; rps: number };

function load(url: string, connections: number, seconds: number, overallRate?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections, duration: seconds, timeout: 10, ...(overallRate ? { overallRate } : {}) }, (error, result) => {
      if (error) return reject(error instanceof Error ? error : new Error(String(error)));
      const refused = result['5xx'];
      resolve({ served: result['2xx'], refused, failed: result.errors + result.timeouts + result['4xx'], p50: result.latency.p50, p99: result.latency.p99, rps: result.requests.average });
    });
  });
}

/** Probes /health/live every 100 ms while `during` runs: the slowest answer (a failure counts as 10 s). */
async function probeWhile<T>(url: string, pid: number, during: Promise<T>): Promise<{ result: T; liveMaxMs: number; liveFailures: number; rssMaxMiB: number }> {
  let done = false;
  let liveMaxMs = 0;
  let liveFailures = 0;
  let rssMaxMiB = 0;
  const probes = (async () => {
    while (!done) {
      const started = performance.now();
      const ok = await fetch(`${url}/health/live`, { signal: AbortSignal.timeout(10_000) }).then((response) => response.ok, () => false);
      if (!ok) liveFailures++;
      liveMaxMs = Math.max(liveMaxMs, ok ? performance.now() - started : 10_000);
      rssMaxMiB = Math.max(rssMaxMiB, rssMiB(pid));
      await pause(100);
    }
  })();
  const result = await during.finally(() => (done = true));
  await probes;
  return { result, liveMaxMs, liveFailures, rssMaxMiB };
}

/** Time from the end of the load until the endpoint answers 200 within 50 ms. */
async function recovery(url: string): Promise<number> {
  const started = performance.now();
  for (;;) {
    const before = performance.now();
    const status = await fetch(url).then((response) => response.status, () => 0);
    if (status === 200 && performance.now() - before < 50) return performance.now() - started;
    if (performance.now() - started > 120_000) return Number.POSITIVE_INFINITY;
    await pause(20);
  }
}

export async function overloadSuite({ seconds = 10, factor = 10, thresholds = [] as number[] } = {}): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-overload-'));
  // The API here is the embedded default (SQLite, PGlite in process).
  const threshold = sheddingThresholdMs(undefined, 'pglite');
  const rows: Record<string, Record<string, string | number>> = {};
  try {
    // Some posts to list, made once; every run then reads them (a read that touches the database).
    let api = await startApi(dataDir, threshold);
    const registered = (await (
      await fetch(`${api.url}/api/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'overload', email: 'overload@example.com', password: 'benchmark password' }) })
    ).json()) as { token: string };
    for (let index = 0; index < 40; index++) {
      await fetch(`${api.url}/api/posts`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${registered.token}` }, body: JSON.stringify({ title: `post ${index}`, body: 'text '.repeat(50), published: true }) });
    }
    const endpoint = (base: string) => `${base}/api/posts?limit=20`;
    await load(endpoint(api.url), 50, 3);
    const capacity = await load(endpoint(api.url), 50, 5);
    console.log(`\noverload: capacity of GET /api/posts?limit=20 at 50 connections: ${Math.round(capacity.rps)} req/s (p99 ${capacity.p99} ms); offering ${factor}× that from 1,000 connections for ${seconds} s`);
    await stopApi(api);

    for (const setting of [...new Set([threshold, ...thresholds, 0])]) {
      api = await startApi(dataDir, setting);
      await load(endpoint(api.url), 50, 3);
      const idleMiB = rssMiB(api.child.pid!);
      const { result, liveMaxMs, liveFailures, rssMaxMiB } = await probeWhile(api.url, api.child.pid!, load(endpoint(api.url), 1000, seconds, Math.round(capacity.rps * factor)));
      const recoveredMs = await recovery(endpoint(api.url));
      await pause(3000);
      rows[setting === 0 ? 'shedding off' : `shedding at ${setting} ms lag${setting === threshold ? ' (default)' : ''}`] = {
        'served/s': Math.round(result.served / seconds),
        'refused 503/s': Math.round(result.refused / seconds),
        'failed or timed out': result.failed,
        'p50 ms': result.p50,
        'p99 ms': result.p99,
        '/health/live max ms': Math.round(liveMaxMs) + (liveFailures ? ` (${liveFailures} failed)` : ''),
        'RSS idle → max → 3 s after, MiB': `${idleMiB} → ${rssMaxMiB} → ${rssMiB(api.child.pid!)}`,
        'recovered in ms': Math.round(recoveredMs),
      };
      await stopApi(api);
    }
    console.table(rows);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
