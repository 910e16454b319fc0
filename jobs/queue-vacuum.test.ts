// The embedded queue's vacuum: PGlite runs no autovacuum, so the queue does what autovacuum would (jobs/queue.ts
// `vacuum`). Beside SQLite (the queue on PGlite): the dead rows that working jobs leave are reclaimed, and the
// queue goes on working. Beside Postgres (the queue in the app's database): nothing to do, autovacuum does it.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { dialects, useTestDeps } from '../server/testing/harness.ts';
import { uniqueName } from '../server/testing/factories.ts';
import { defineJob, register } from './define.ts';
import { registeredJobs } from './registry.ts';

const done = new Set<string>();
const noopJob = defineJob({
  name: 'test.vacuum.noop',
  payload: z.object({ key: z.string() }),
  options: { retryLimit: 0, retryDelay: 1, expireInSeconds: 60, heartbeatSeconds: 30 },
  handler: async (_deps, { key }) => {
    done.add(key);
  },
});
const definitions = [...registeredJobs, register(noopJob)];

describe.each(dialects)('the job queue vacuum beside %s', (dialect) => {
  const deps = useTestDeps(dialect, { work: true, definitions });

  /** Sends `count` jobs and waits until every one has run. */
  async function workJobs(count: number): Promise<string[]> {
    const keys = Array.from({ length: count }, () => uniqueName('vacuum'));
    await deps.current.queue.transaction(async (_tx, enqueue) => enqueue(noopJob, ...keys.map((key) => ({ key }))));
    await expect.poll(() => keys.every((key) => done.has(key)), { timeout: 240_000 }).toBe(true);
    // pg-boss marks a batch completed after its handlers return: wait for the rows' last change.
    await expect.poll(async () => (await deps.current.queue.find(noopJob)).filter((job) => job.state !== 'completed').length, { timeout: 240_000 }).toBe(0);
    return keys;
  }

  it(dialect === 'sqlite' ? 'reclaims the dead rows that working jobs leave in PGlite, and the queue goes on working' : 'leaves the queue in Postgres to its autovacuum', async () => {
    const { queue } = deps.current;
    await workJobs(300);
    if (dialect === 'postgres') {
      expect(queue.backend).toBe('postgres');
      expect(await queue.vacuum()).toEqual([]);
      return;
    }
    // Every job row was written when sent, again when fetched and again when completed: two dead rows each.
    // Postgres reports a second's statistics up to a second late, and 300 jobs can all run within one: until
    // those arrive, a pass sees too few dead rows to vacuum (and does nothing), so the test asks again.
    type Vacuumed = Awaited<ReturnType<typeof queue.vacuum>>;
    let vacuumed: Vacuumed = [];
    const jobTableOf = (tables: Vacuumed) => tables.find((table) => table.table.startsWith('job'));
    await expect.poll(async () => jobTableOf((vacuumed = await queue.vacuum())), { timeout: 240_000 }).toBeDefined();
    const jobTable = jobTableOf(vacuumed)!;
    expect(jobTable.deadRows, JSON.stringify(vacuumed)).toBeGreaterThan(50 + 0.2 * jobTable.liveRows);
    // Nothing is left over the threshold once the statistics of the last transactions are in (Postgres reports
    // them up to a second late): a later pass has nothing to do. Without the vacuum the job table stays listed.
    await expect.poll(() => queue.vacuum(), { timeout: 240_000 }).toEqual([]);

    const after = await workJobs(20);
    expect(after.every((key) => done.has(key))).toBe(true);
  });
});
