// The bench's start-up suite: each process started the old way (`--import ./server/telemetry/register.ts`)
// and through server/preload.mjs, alternately, several times; time from spawn to a 200 from /health/ready,
// the resident memory once it has sat idle for a few seconds, and for a process that opens its job queue after it
// is ready (the embedded API), the time until it logs that the queue started.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../server/testing/ports.ts';
import { SERVER_NODE_ARGS } from '../../server/runtime/node-args.ts';
import { median } from './numbers.ts';
import { stopChild } from './proc.ts';

const root = join(import.meta.dirname, '..', '..');
const WAYS: Record<'before' | 'preload', string[]> = {
  before: ['--import', './server/telemetry/register.ts'],
  preload: SERVER_NODE_ARGS,
};
type Way = keyof typeof WAYS;
type Sample = { readyMs: number; rssMiB: number; queueMs: number | null };

const rssMiB = (pid: number) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);

/** Starts `script` one way, waits for readiness on its probe port, lets it idle, measures, stops it. */
async function startOnce(way: Way, { script, queue }: StartupCase, env: Record<string, string>, compileCache: string, idleMs: number): Promise<Sample> {
  const port = await freePort();
  const portVariable = script.includes('worker') ? 'WORKER_PORT' : 'PORT';
  const started = performance.now();
  const child = spawn(process.execPath, [...WAYS[way], script], {
    cwd: root,
    // The old way had no compile cache; the preload keeps one (a fresh directory per bench run).
    // At info the process logs when its queue has started (a few lines at start; its probes log at debug).
    env: { PATH: process.env.PATH, LOG_LEVEL: queue ? 'info' : 'warn', NODE_ENV: 'production', ...env, [portVariable]: String(port), ...(way === 'preload' ? { NODE_COMPILE_CACHE: compileCache } : {}) },
    stdio: ['ignore', queue ? 'pipe' : 'ignore', 'inherit'],
  });
  let queueMs: number | null = null;
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4096);
    if (queueMs === null && output.includes('"msg":"job queue started"')) queueMs = performance.now() - started;
  });
  try {
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode} before it was ready`);
      if (Date.now() > deadline) throw new Error(`${script} was not ready within 120 s`);
      const status = await fetch(`http://127.0.0.1:${port}/health/ready`).then((response) => response.status, () => 0);
      if (status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const readyMs = performance.now() - started;
    await new Promise((resolve) => setTimeout(resolve, idleMs));
    const rss = rssMiB(child.pid!);
    // A queue that never opens strands every task submitted to it: the run fails rather than print a start time.
    while (queue && queueMs === null) {
      if (child.exitCode !== null) throw new Error(`${script} exited before its job queue started`);
      if (Date.now() > deadline) throw new Error(`${script}: its job queue had not started 120 s after spawn`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return { readyMs, rssMiB: rss, queueMs };
  } finally {
    await stopChild(child);
  }
}

export type StartupCase = {
  label: string;
  script: string;
  /** The environment of each start; `fresh` gives a new, empty data directory to start with (first runs). */
  env: (fresh: () => string) => Record<string, string>;
  /** The process opens a job queue after it is ready (the embedded API): time that too. */
  queue?: boolean;
};

/** Prints, per case and way: median start-to-ready and idle RSS over `starts` starts, and the ratios. */
export async function startupSuite(cases: StartupCase[], { starts = 5, idleMs = 3000 } = {}): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), 'bench-startup-'));
  let freshCount = 0;
  const fresh = () => join(scratch, `fresh-${++freshCount}`);
  const compileCache = join(scratch, 'compile-cache');
  const rows: Record<string, Record<string, string | number>> = {};
  try {
    for (const startupCase of cases) {
      const { label, env, queue } = startupCase;
      const samples: Record<Way, Sample[]> = { before: [], preload: [] };
      // Alternating, so a machine that gets busier or quieter in the middle affects both ways alike.
      for (let round = 0; round < starts; round++) {
        for (const way of Object.keys(WAYS) as Way[]) samples[way].push(await startOnce(way, startupCase, env(fresh), compileCache, idleMs));
      }
      for (const way of Object.keys(WAYS) as Way[]) {
        rows[`${label}, ${way === 'before' ? 'before (register.ts)' : 'preload.mjs'}`] = {
          'ready ms (median)': Math.round(median(samples[way].map((sample) => sample.readyMs))),
          'first start ms': Math.round(samples[way][0].readyMs),
          'idle RSS MiB (median)': median(samples[way].map((sample) => sample.rssMiB)),
          'queue started ms (median)': queue ? Math.round(median(samples[way].map((sample) => sample.queueMs ?? Infinity))) : '',
        };
      }
      const ratio = (pick: (sample: Sample) => number) => (median(samples.before.map(pick)) / median(samples.preload.map(pick))).toFixed(2);
      rows[`${label}, before / preload`] = {
        'ready ms (median)': `${ratio((sample) => sample.readyMs)}×`,
        'first start ms': '',
        'idle RSS MiB (median)': `${ratio((sample) => sample.rssMiB)}×`,
        'queue started ms (median)': queue ? `${ratio((sample) => sample.queueMs ?? Infinity)}×` : '',
      };
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  console.log(`\nstart-up: spawn → /health/ready 200, ${starts} starts each way, alternating; RSS after ${idleMs / 1000} s idle; spawn → "job queue started" logged`);
  console.table(rows);
  console.log('  targets: ready ≤ 1.0 s API and worker on Postgres, ≤ 1.5 s embedded warm, ≤ 4 s embedded first run;');
  console.log('           idle RSS ≤ 130 MiB on Postgres, ≤ 320 MiB embedded');
}
