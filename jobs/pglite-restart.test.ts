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

  it('is given up after more deaths than its budget: every call then fails with why', async () => {
    const restarts: number[] = [];
    const gaveUp: Error[] = [];
    // Two deaths in 10 minutes are restarted (the default is 3 in one): a loaded machine cannot stretch the budget.
    const db = await openPgliteThread({ dataDir: dataDir(), settings: PGLITE_SETTINGS }, undefined, {
      script: crashingThread,
      restarts: { max: 2, windowMs: 600_000 },
      onRestart: (_error, count) => restarts.push(count),
      onGiveUp: (error) => gaveUp.push(error),
    });
    try {
      for (const death of [1, 2]) {
        crashPgliteThreads();
        await expect.poll(() => restarts.length).toBe(death);
      }
      crashPgliteThreads();
      await expect.poll(() => gaveUp.length).toBe(1);
      await expect(db.query('select 1')).rejects.toThrow("the job queue's PGlite thread stopped and could not be restarted: the PGlite thread exited (70)");
      expect(restarts).toEqual([1, 2]);
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

  it('goes on after a death, and once given up says so: readiness 503, jobs kept in the outbox', async () => {
    // One death is restarted, the next given up (the default budget is 3 within a minute).
    const thread = { script: crashingThread, restarts: { max: 1, windowMs: 600_000 } };
    deps = await createTestDeps(dialect, { logger: logs.logger, worker: true, queueBackend: { kind: 'pglite', dataDir: dataDir(), thread } });
    await deps.queue.start();
    const { caller } = await signedInUser(deps);
    const before = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [1, 2] } });

    crashPgliteThreads();
    await expect.poll(() => logs.lines.map((line) => line.msg)).toContain('job queue: its PGlite thread died; a new one has opened the same data directory');
    const after = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [3, 4] } });
    await deps.queue.work(deps);
    for (const { id } of [before, after]) await expect.poll(async () => (await caller.tasks.get({ id })).status).toBe('completed');
    const readiness = createReadinessCheck(deps);
    expect(await readiness()).toEqual({ ready: true });
    expect(deps.queue.failure()).toBeNull();

    crashPgliteThreads();
    await expect.poll(() => deps!.queue.failure()?.message).toBe("the job queue's PGlite thread stopped and could not be restarted: the PGlite thread exited (70)");
    expect(await readiness()).toEqual({ ready: false, reason: 'job queue unavailable' });
    expect(logs.lines.some((line) => line.msg === 'job queue: its PGlite thread keeps dying; jobs wait in the outbox until the process restarts')).toBe(true);
    // Accepted all the same: the task's job waits in the outbox for a process that can send it.
    const stranded = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [5, 6] } });
    expect((await caller.tasks.get({ id: stranded.id })).status).toBe('queued');
    expect((await deps.queue.outbox()).pending).toBeGreaterThan(0);
  });
});
