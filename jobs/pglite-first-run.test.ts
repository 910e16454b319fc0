// A first run of the embedded queue makes its PGlite database (initdb) in a child process beside the directory,
// renames it into place, and only then opens it on its thread (jobs/pglite-remote.ts): the process does not keep
// what initdb grew, and a first run stopped during initdb, or killed, leaves no half-made database behind and does
// not keep the next start from making one.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PGLITE_SETTINGS } from '../db/index.ts';
import { openPgliteThread, type RemotePglite } from './pglite-remote.ts';

const roots: string[] = [];
const opened: RemotePglite[] = [];
afterEach(async () => {
  for (const db of opened.splice(0)) await db.close();
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

function newRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'pglite-first-run-'));
  roots.push(root);
  return root;
}

/** The staging directories beside `dataDir` (`queue.creating-…`). */
const stagings = (dataDir: string) => readdirSync(dirname(dataDir)).filter((name) => name.startsWith(`${basename(dataDir)}.creating`));

/** The pids of processes making a queue database under `root` (jobs/pglite-create.ts). */
function creatorsUnder(root: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return argv.includes('pglite-create') && argv.includes(root);
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** What the directory and its staging sibling held at each look while `work` ran. */
async function watching<T>(dataDir: string, work: Promise<T>): Promise<{ result: PromiseSettledResult<T>; looks: { staging: boolean; entries: number }[] }> {
  const looks: { staging: boolean; entries: number }[] = [];
  let done = false;
  const settled = Promise.allSettled([work]).then(([result]) => {
    done = true;
    return result;
  });
  while (!done) {
    looks.push({ staging: stagings(dataDir).length > 0, entries: existsSync(dataDir) ? readdirSync(dataDir).length : 0 });
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return { result: await settled, looks };
}

describe('the embedded queue’s first run', () => {
  it('makes the database beside its directory and moves it in whole, then opens it', { timeout: 120_000 }, async () => {
    const dataDir = join(newRoot(), 'queue');
    // As the queue makes it before opening: an empty directory.
    mkdirSync(dataDir);
    const { result, looks } = await watching(dataDir, openPgliteThread({ dataDir, settings: PGLITE_SETTINGS }));
    if (result.status === 'rejected') throw result.reason;
    opened.push(result.value);

    expect(looks.some((look) => look.staging)).toBe(true);
    // While it was being made, the directory itself stayed empty.
    expect(looks.filter((look) => look.staging).every((look) => look.entries === 0)).toBe(true);
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
    expect(stagings(dataDir)).toEqual([]);
    const { rows } = await result.value.query<{ answer: number }>('select 41 + 1 as answer');
    expect(rows).toEqual([{ answer: 42 }]);
  });

  it('leaves nothing half made when stopped during initdb, and the next start makes it', { timeout: 120_000 }, async () => {
    const dataDir = join(newRoot(), 'queue');
    const stop = new AbortController();
    const opening = openPgliteThread({ dataDir, settings: PGLITE_SETTINGS }, stop.signal);
    // Stopped once the child is at work on the staging directory.
    await until('initdb at work', () => existsSync(dirname(dataDir)) && stagings(dataDir).length > 0);
    stop.abort();
    await expect(opening).rejects.toThrow();
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(false);
    expect(stagings(dataDir)).toEqual([]);

    const db = await openPgliteThread({ dataDir, settings: PGLITE_SETTINGS });
    opened.push(db);
    await db.exec('create table kept (n int); insert into kept values (7)');
    await db.close();
    opened.pop();
    // A later start opens what the first made: no second initdb, the data is there.
    const again = await openPgliteThread({ dataDir, settings: PGLITE_SETTINGS });
    opened.push(again);
    expect((await again.query<{ n: number }>('select n from kept')).rows).toEqual([{ n: 7 }]);
  });

  it('stops initdb when the process that started it is killed, and makes the database at the next start', { timeout: 180_000 }, async () => {
    const root = newRoot();
    const dataDir = join(root, 'queue');
    // A process of its own opens the queue's database for the first time, and is killed (SIGKILL) as its initdb
    // starts: it cannot stop its child, which, before, made a whole database into the staging directory every
    // start used (4–5 s), while the next start removed that directory under it (ENOTEMPTY: "could not start").
    const remote = new URL('./pglite-remote.ts', import.meta.url).href;
    const script = `const { openPgliteThread } = await import(${JSON.stringify(remote)}); await openPgliteThread({ dataDir: ${JSON.stringify(dataDir)}, settings: ${JSON.stringify(PGLITE_SETTINGS)} });`;
    const killed = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
    const exited = new Promise((resolve) => killed.once('exit', resolve));
    await until('the first initdb to start', () => creatorsUnder(root).length > 0);
    const [orphan] = creatorsUnder(root);
    const orphanDir = readFileSync(`/proc/${orphan}/cmdline`, 'utf8').split('\0')[2];
    killed.kill('SIGKILL');
    await exited;
    // The child sees its parent gone (its stdin ends) and exits without finishing the database.
    await until('the orphaned initdb to exit', () => creatorsUnder(root).length === 0);
    expect(existsSync(join(orphanDir, 'PG_VERSION'))).toBe(false);
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(false);
    expect(stagings(dataDir)).not.toEqual([]);

    // The next start clears what the killed one left, makes its own database and opens it.
    const db = await openPgliteThread({ dataDir, settings: PGLITE_SETTINGS });
    opened.push(db);
    expect((await db.query<{ answer: number }>('select 41 + 1 as answer')).rows).toEqual([{ answer: 42 }]);
    expect(stagings(dataDir)).toEqual([]);
  });
});
