// The embedded queue's PGlite thread collects its own heap when asked (RemotePglite.collect, which the API's idle
// collector calls once the process has gone quiet after load): each isolate collects only its own heap, and the
// thread's, grown by a load's statements and their messages, stayed resident. gc() is there only under our
// processes' --expose-gc, which vitest's workers do not have, so this runs a process of its own with those flags.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { SERVER_NODE_ARGS } from '../server/runtime/node-args.ts';

const v8Flags = SERVER_NODE_ARGS.slice(0, SERVER_NODE_ARGS.indexOf('--import'));
const script = `
const { openPgliteThread } = await import(${JSON.stringify(new URL('./pglite-remote.ts', import.meta.url).href)});
const db = await openPgliteThread({ dataDir: null, settings: [] });
// A load's worth of statements whose results the thread builds and sends.
for (let i = 0; i < 300; i++) await db.query("select n, repeat('x', 200) as filler from generate_series(1, 500) as n");
const collected = await db.collect();
const { rows } = await db.query('select 41 + 1 as answer');
await db.close();
console.log(JSON.stringify({ collected, rows }));
`;

describe('the PGlite thread, asked to collect', () => {
  it('gives back the heap a load grew, and goes on answering', { timeout: 120_000 }, async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [...v8Flags, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.once('exit', (exitCode) => resolve({ code: exitCode, stdout: out, stderr: err }));
    });
    expect(code, stderr).toBe(0);
    const { collected, rows } = JSON.parse(stdout.trim()) as { collected: { before: number; after: number } | null; rows: unknown[] };
    expect(rows).toEqual([{ answer: 42 }]);
    expect(collected).not.toBeNull();
    expect(collected!.after).toBeLessThan(collected!.before);
  });
});
