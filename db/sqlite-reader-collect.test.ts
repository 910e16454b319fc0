// The SQLite search reader's thread gives back what a load grew when the idle collector asks (db.collect): its
// connection's page cache (PRAGMA shrink_memory) and its own V8 heap, which each isolate collects only itself.
// gc() is there only under our processes' --expose-gc, which vitest's workers do not have, so this runs a process
// of its own with those flags, as jobs/pglite-thread-collect.test.ts does for the queue's thread.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SERVER_NODE_ARGS } from '../server/runtime/node-args.ts';
import { openTestDatabase } from '../server/testing/database.ts';
import { dialects } from '../server/testing/harness.ts';

const scratch = mkdtempSync(join(tmpdir(), 'abs-reader-collect-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const v8Flags = SERVER_NODE_ARGS.slice(0, SERVER_NODE_ARGS.indexOf('--import'));
const script = (path: string) => `
const { default: BetterSqlite3 } = await import('better-sqlite3');
const { openSqliteReader } = await import(${JSON.stringify(new URL('./sqlite-reader.ts', import.meta.url).href)});
const file = new BetterSqlite3(${JSON.stringify(path)});
file.exec("create table items (n integer primary key, filler text)");
file.prepare("insert into items (filler) select printf('%.*c', 200, 'x') from json_each(?)").run(JSON.stringify(Array.from({ length: 2000 })));
file.close();
const reader = openSqliteReader(${JSON.stringify(path)});
const idle = await reader.collect();
// A load's worth of statements whose rows the thread reads and sends.
for (let i = 0; i < 300; i++) await reader.values('select n, filler from items where n > ?', [i]);
const collected = await reader.collect();
const rows = await reader.values('select 41 + 1', []);
await reader.close();
console.log(JSON.stringify({ idle, collected, rows }));
`;

describe('the SQLite reader thread, asked to collect', () => {
  it('starts no thread for it, gives back the heap a load grew, and goes on answering', { timeout: 120_000 }, async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [...v8Flags, '--input-type=module', '-e', script(join(scratch, 'reader.db'))], { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.once('exit', (exitCode) => resolve({ code: exitCode, stdout: out, stderr: err }));
    });
    expect(code, stderr).toBe(0);
    const { idle, collected, rows } = JSON.parse(stdout.trim()) as { idle: unknown; collected: { before: number; after: number } | null; rows: unknown[][] };
    expect(idle).toBeNull();
    expect(rows).toEqual([[42]]);
    expect(collected).not.toBeNull();
    expect(collected!.after).toBeLessThan(collected!.before);
  });
});

describe.each(dialects)('db.collect on %s', (dialect) => {
  it('is null where no thread reads for the database: Postgres, an in-memory SQLite', async () => {
    const db = await openTestDatabase(dialect);
    try {
      expect(await db.collect()).toBeNull();
    } finally {
      await db.close();
    }
  });
});
