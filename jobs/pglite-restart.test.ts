// The embedded queue's PGlite thread dying once open (a WebAssembly abort, an uncaught error in it): a new thread
// opens the same data directory, and the queue goes on, on both dialects of the app database; a thread that keeps
// dying is given up, and readiness says so. Before, the queue stayed dead until a restart with readiness at 200.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PGLITE_SETTINGS } from '../db/index.ts';
import { closeDeps, type Deps } from '../server/deps.ts';
import { captureLogs, createTestDeps, dialects } from '../server/testing/harness.ts';
import { signedInUser } from '../server/testing/factories.ts';
import { crashingThread, crashPgliteThreads } from '../server/testing/pglite-crash.ts';
import { createReadinessCheck } from '../server/services/health.ts';
import { openPgliteThread } from './pglite-remote.ts';

const dirs: string[] = [];
const dataDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'abs-pglite-restart-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('PGlite on a worker thread that dies', () => {
  it('is replaced on its data directory: committed rows kept, later calls and listeners served', async () => {
    const restarts: number[] = [];
    const db = await openPgliteThread({ dataDir: dataDir(), settings: PGLITE_SETTINGS }, undefined, { script: crashingThread, onRestart: (_error, count) => restarts.push(count) });
    try {
      let leaderChanges = 0;
      db.onLeaderChange(() => leaderChanges++);
      await db.exec('create table t (id int primary key); insert into t values (1);');
      const heard: string[] = [];
      await db.listen('news', (payload) => heard.push(payload));

      crashPgliteThreads();
      // A call made while the new thread opens waits for it instead of failing.
      const during = await (async () => {
        for (;;) {
          const answer = await db.query<{ id: number }>('select id from t').then(({ rows }) => rows, (error: Error) => error.message);
          if (restarts.length > 0) return answer;
        }
      })();
      expect(during).toEqual([{ id: 1 }]);
      expect(restarts).toEqual([1]);
      expect(leaderChanges).toBe(1);
      await db.query(`select pg_notify('news', 'after the restart')`);
      await expect.poll(() => heard).toEqual(['after the restart']);
    } finally {
      await db.close();
    }
    await expect(db.query('select 1')).rejects.toThrow(/exited/);
  });

  it('is given up after dying a fourth time within a minute: every call then fails with why', async () => {
    const gaveUp: Error[] = [];
    const db = await openPgliteThread({ dataDir: dataDir(), settings: PGLITE_SETTINGS }, undefined, { script: crashingThread, onGiveUp: (error) => gaveUp.push(error) });
    try {
      for (let death = 1; death <= 4; death++) {
        await db.query('select 1');
        crashPgliteThreads();
        await expect.poll(() => db.query('select 1').then(() => 'served', (error: Error) => error.message)).not.toBe('served');
        if (death < 4) await db.query('select 1');
      }
      await expect(db.query('select 1')).rejects.toThrow("the job queue's PGlite thread stopped and could not be restarted: the PGlite thread exited (70)");
      expect(gaveUp).toHaveLength(1);
    } finally {
      await db.close();
    }
  });
});

describe.each(dialects)('the embedded queue beside %s when its PGlite thread dies', (dialect) => {
  const logs = captureLogs('info');
  let deps: Deps | undefined;
  afterAll(async () => {
    if (deps) await closeDeps(deps);
  });

  it('goes on: tasks submitted before and after the death run, readiness stays ready, the restart is logged', async () => {
    deps = await createTestDeps(dialect, { logger: logs.logger, worker: true, queueBackend: { kind: 'pglite', dataDir: dataDir(), threadScript: crashingThread } });
    await deps.queue.start();
    const { caller } = await signedInUser(deps);
    const before = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [1, 2] } });

    crashPgliteThreads();
    await expect.poll(() => logs.lines.map((line) => line.msg)).toContain('job queue: its PGlite thread died; a new one has opened the same data directory');
    const after = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [3, 4] } });
    await deps.queue.work(deps);
    for (const { id } of [before, after]) await expect.poll(async () => (await caller.tasks.get({ id })).status).toBe('completed');
    expect(await createReadinessCheck(deps)()).toEqual({ ready: true });
    expect(deps.queue.failure()).toBeNull();
  });
});
