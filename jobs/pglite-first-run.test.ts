// A first run of the embedded queue makes its PGlite database (initdb) in a child process beside the directory,
// renames it into place, and only then opens it on its thread (jobs/pglite-remote.ts): the process does not keep
// what initdb grew, and a first run stopped during initdb leaves no half-made database behind.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/** What the directory and its staging sibling held at each look while `work` ran. */
async function watching<T>(dataDir: string, work: Promise<T>): Promise<{ result: PromiseSettledResult<T>; looks: { staging: boolean; entries: number }[] }> {
  const looks: { staging: boolean; entries: number }[] = [];
  let done = false;
  const settled = Promise.allSettled([work]).then(([result]) => {
    done = true;
    return result;
  });
  while (!done) {
    looks.push({ staging: existsSync(`${dataDir}.creating`), entries: existsSync(dataDir) ? readdirSync(dataDir).length : 0 });
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
    expect(existsSync(`${dataDir}.creating`)).toBe(false);
    const { rows } = await result.value.query<{ answer: number }>('select 41 + 1 as answer');
    expect(rows).toEqual([{ answer: 42 }]);
  });

  it('leaves nothing half made when stopped during initdb, and the next start makes it', { timeout: 120_000 }, async () => {
    const dataDir = join(newRoot(), 'queue');
    const stop = new AbortController();
    const opening = openPgliteThread({ dataDir, settings: PGLITE_SETTINGS }, stop.signal);
    // Stopped once the child is at work on the staging directory.
    const deadline = Date.now() + 60_000;
    while (!existsSync(`${dataDir}.creating`) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    stop.abort();
    await expect(opening).rejects.toThrow();
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(false);
    expect(existsSync(`${dataDir}.creating`)).toBe(false);

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
});
