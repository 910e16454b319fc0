// The bench's soak suite (not CI): a mixed workload (reads, writes, logins, task submissions) at half the
// capacity measured just before, for several minutes per dialect; per minute: RSS, open file descriptors (and what
// they are), database pool connections and latency, then the last minute beside the first.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import autocannon from 'autocannon';
import { startBenchApi, type BenchApi } from './api-process.ts';

const METRICS_TOKEN = 'soak-benchmark-metrics-token';
const rssMiB = (pid: number) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);

/**
 * Where the resident memory is (/proc/<pid>/smaps), in MiB: file-backed pages (code, mapped files), the main
 * thread's malloc heap (`[heap]`: SQLite's page cache among the rest), and the other anonymous memory (V8's heaps,
 * PGlite's WebAssembly memory, other threads' malloc arenas, stacks).
 */
function residentBy(pid: number): { file: number; mallocHeap: number; otherAnon: number } {
  const kb = { file: 0, mallocHeap: 0, otherAnon: 0 };
  let kind: keyof typeof kb = 'otherAnon';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (header) {
      const inode = header[1];
      const name = header[2];
      kind = inode !== '0' ? 'file' : name === '[heap]' ? 'mallocHeap' : 'otherAnon';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) kb[kind] += Number(rss[1]);
  }
  const mib = (value: number) => Math.round(value / 1024);
  return { file: mib(kb.file), mallocHeap: mib(kb.mallocHeap), otherAnon: mib(kb.otherAnon) };
}

/** The TCP ports of each socket inode the process can see (/proc/<pid>/net/tcp and tcp6). */
function socketPorts(pid: number): Map<string, { local: number; remote: number }> {
  const ports = new Map<string, { local: number; remote: number }>();
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const port = (address: string) => parseInt(address.split(':')[1], 16);
      ports.set(fields[9], { local: port(fields[1]), remote: port(fields[2]) });
    }
  }
  return ports;
}

/** Open descriptors by what they are: the database's sockets, clients' sockets, other sockets, and the rest. */
function openFiles(pid: number, apiPort: number, databasePort: number | null): { total: number; kinds: string; clients: number } {
  const ports = socketPorts(pid);
  const kinds = new Map<string, number>();
  const names = readdirSync(`/proc/${pid}/fd`);
  for (const name of names) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${name}`);
    } catch {
      continue;
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    const socket = inode ? ports.get(inode) : undefined;
    const kind = inode
      ? socket?.remote === databasePort && databasePort !== null
        ? 'db'
        : socket?.local === apiPort
          ? 'clients'
          : 'sockets'
      : target.startsWith('anon_inode:')
        ? 'anon'
        : target.startsWith('pipe:')
          ? 'pipes'
          : 'files';
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return { total: names.length, kinds: [...kinds].sort().map(([kind, count]) => `${kind} ${count}`).join(', '), clients: (kinds.get('clients') ?? 0) + (kinds.get('sockets') ?? 0) };
}

/**
 * The descriptors once the minute's client connections have closed on the server's side too (at most 15 s): taken
 * at once, a lagging process still held some of the 20 it was closing (minute 2 of a run: clients 14, sockets 8),
 * which read as a drift of 1.6×.
 */
async function settledFiles(pid: number, apiPort: number, databasePort: number | null): Promise<ReturnType<typeof openFiles>> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const files = openFiles(pid, apiPort, databasePort);
    // One is this process's own keep-alive connection for /metrics.
    if (files.clients <= 1 || Date.now() > deadline) return files;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export type SoakTarget = { label: string; databaseUrl: string };
type Minute = { minute: number; rps: number; p50: number; p99: number; errors: number; rssMiB: number; heapMiB: number; fileMiB: number; mallocHeapMiB: number; otherAnonMiB: number; fds: number; fdKinds: string; pool: string };

const startApi = (databaseUrl: string): Promise<BenchApi> =>
  // The worker runs in the API process on both dialects, so the tasks submitted are worked too.
  startBenchApi({ DATABASE_URL: databaseUrl, WORKER_IN_PROCESS: 'true', METRICS_TOKEN });

/** One connection's round: 20 requests in the proportions a busy dashboard and its users make. */
function mix(token: string, username: string): autocannon.Request[] {
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const read: autocannon.Request = { method: 'GET', path: '/api/posts?limit=20', headers: auth };
  const me: autocannon.Request = { method: 'GET', path: '/api/auth/me', headers: auth };
  const write: autocannon.Request = { method: 'POST', path: '/api/posts', headers: auth, body: JSON.stringify({ title: 'soak', body: 'a post written during the soak', published: true }) };
  const submit: autocannon.Request = { method: 'POST', path: '/api/tasks', headers: auth, body: JSON.stringify({ type: 'math.sum', input: { numbers: [1, 2, 3] } }) };
  const login: autocannon.Request = { method: 'POST', path: '/api/auth/login', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ usernameOrEmail: username, password: 'benchmark password' }) };
  return [read, read, read, me, write, read, read, submit, read, me, read, read, write, read, read, submit, read, me, write, login];
}

function run(url: string, requests: autocannon.Request[], seconds: number, overallRate?: number): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections: 20, duration: seconds, requests, timeout: 10, ...(overallRate ? { overallRate } : {}) }, (error, result) => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(result)));
  });
}

/** From the process's own /metrics: the app's pool connections (Postgres) and the V8 heap in use. */
async function processMetrics(url: string): Promise<{ pool: string; heapMiB: number }> {
  const text = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }).then((response) => response.text(), () => '');
  const total = /db_pool_connections\{state="total"\} (\d+)/.exec(text)?.[1];
  const heap = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1] ?? 0);
  return { pool: total ?? 'n/a (SQLite)', heapMiB: Math.round(heap / 1024 / 1024) };
}

/** Until a task submitted now has been worked: the embedded API answers before its PGlite queue is up. */
async function queueWorking(api: BenchApi, token: string): Promise<void> {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const deadline = Date.now() + 300_000;
  let id: string | undefined;
  for (;;) {
    if (api.child.exitCode !== null) throw new Error(`the API exited (${api.child.exitCode}) before its queue worked a task`);
    try {
      id ??= ((await (await fetch(`${api.url}/api/tasks`, { method: 'POST', headers, body: JSON.stringify({ type: 'math.sum', input: { numbers: [1] } }) })).json()) as { id: string }).id;
      const task = (await (await fetch(`${api.url}/api/tasks/${id}`, { headers })).json()) as { status: string };
      if (task.status === 'completed') return;
    } catch {
      // A busy machine: a connection reset or a 503 while PGlite starts; asked again below.
    }
    if (Date.now() > deadline) throw new Error('the queue did not work a task within 300 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export async function soakSuite(targets: SoakTarget[], { minutes = 10 } = {}): Promise<void> {
  const summary: Record<string, Record<string, string | number>> = {};
  for (const target of targets) {
    const api = await startApi(target.databaseUrl);
    const databasePort = target.databaseUrl.startsWith('postgres') ? Number(new URL(target.databaseUrl).port || 5432) : null;
    try {
      const username = `soak${process.pid}`;
      const registered = (await (
        await fetch(`${api.url}/api/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, email: `${username}@example.com`, password: 'benchmark password' }) })
      ).json()) as { token: string };
      const requests = mix(registered.token, username);
      await queueWorking(api, registered.token);
      await run(api.url, requests, 5);
      const capacity = (await run(api.url, requests, 10)).requests.average;
      const rate = Math.max(1, Math.round(capacity / 2));
      console.log(`\nsoak, ${target.label}: capacity ${Math.round(capacity)} req/s with the mix; ${minutes} minutes at ${rate} req/s`);
      const rows: Minute[] = [];
      for (let minute = 1; minute <= minutes; minute++) {
        const result = await run(api.url, requests, 60, rate);
        const pid = api.child.pid!;
        const files = await settledFiles(pid, Number(new URL(api.url).port), databasePort);
        const { pool, heapMiB } = await processMetrics(api.url);
        const resident = residentBy(pid);
        rows.push({
          minute,
          rps: Math.round(result.requests.average),
          p50: result.latency.p50,
          p99: result.latency.p99,
          errors: result.errors + result.timeouts + result.non2xx,
          rssMiB: rssMiB(pid),
          heapMiB,
          fileMiB: resident.file,
          mallocHeapMiB: resident.mallocHeap,
          otherAnonMiB: resident.otherAnon,
          fds: files.total,
          fdKinds: files.kinds,
          pool,
        });
        console.log(JSON.stringify(rows.at(-1)));
      }
      console.table(rows);
      const first = rows[0];
      const last = rows.at(-1)!;
      summary[target.label] = {
        'RSS MiB first → last': `${first.rssMiB} → ${last.rssMiB} (${(last.rssMiB / first.rssMiB).toFixed(2)}×)`,
        'heap MiB first → last': `${first.heapMiB} → ${last.heapMiB}`,
        'resident MiB first → last (file, main malloc heap, other anon)': `${first.fileMiB}, ${first.mallocHeapMiB}, ${first.otherAnonMiB} → ${last.fileMiB}, ${last.mallocHeapMiB}, ${last.otherAnonMiB}`,
        'open fds first → last': `${first.fds} → ${last.fds} (${(last.fds / first.fds).toFixed(2)}×; ${first.fdKinds} → ${last.fdKinds})`,
        'pool first → last': `${first.pool} → ${last.pool}`,
        'p99 ms first → last': `${first.p99} → ${last.p99} (${(last.p99 / Math.max(1, first.p99)).toFixed(2)}×)`,
        'non-2xx or errors': rows.reduce((sum, row) => sum + row.errors, 0),
      };
    } finally {
      await api.stop();
    }
  }
  console.log('\nsoak: targets are RSS and descriptors within 1.10× of the first minute, p99 within 1.5×');
  console.table(summary);
}
