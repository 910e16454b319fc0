// Real processes for tests: `node` on one of our entry points, its JSON log lines collected as they come.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, expect } from 'vitest';
import { PRELOAD } from '../runtime/node-args.ts';

export type LogLine = Record<string, unknown> & { msg?: string };
export type NodeProcess = {
  child: ChildProcess;
  /** Parsed stdout lines (pino JSON; anything else as `{ msg }`). */
  lines: LogLine[];
  stderr: () => string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** Polls (with a deadline) for a log line with this message, and returns it. */
  waitFor: (msg: string, timeoutMs?: number) => Promise<LogLine>;
  /** Its last log lines and the end of its stderr, for a failure's message. */
  lastWords: () => string;
};

const running = new Set<ChildProcess>();
// Whatever a test leaves running (a failed assertion before its SIGTERM) dies with the test.
afterEach(() => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  running.clear();
});

export { PRELOAD, SERVER_NODE_ARGS } from '../runtime/node-args.ts';

/**
 * `node [nodeArgs…] script [scriptArgs…]` with only PATH and `env` in its environment; the preload, as npm scripts
 * run it. Load shedding is off unless `env` sets it: on a machine busy with other tests a process lags because
 * it is not scheduled, and a test would see 503s that say nothing about what it tests.
 */
export function startNode(script: string, env: Record<string, string>, nodeArgs: string[] = PRELOAD, scriptArgs: string[] = []): NodeProcess {
  const child = spawn(process.execPath, [...nodeArgs, script, ...scriptArgs], { env: { PATH: process.env.PATH, OVERLOAD_EVENT_LOOP_DELAY_MS: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const lines: LogLine[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as LogLine);
    } catch {
      lines.push({ msg: line });
    }
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // A hang guard, not a promise: on a loaded 2-core machine a first run's PGlite (initdb on its thread) and the first
  // job after it have taken over 30 s. Under the tests' own 300 s timeout.
  const waitFor = async (msg: string, timeoutMs = 240_000) => {
    await expect.poll(() => lines.some((line) => line.msg === msg) || child.exitCode !== null, { timeout: timeoutMs, interval: 20 }).toBe(true);
    const line = lines.find((entry) => entry.msg === msg);
    if (!line) throw new Error(`${script} exited (${child.exitCode}) before logging "${msg}":\n${lastWords()}`);
    return line;
  };
  const lastWords = () => `last log lines:\n${lines
    .slice(-8)
    .map((entry) => JSON.stringify(entry))
    .join('\n')}\nstderr: ${stderr.slice(-2000)}`;
  return { child, lines, stderr: () => stderr, exited, waitFor, lastWords };
}
