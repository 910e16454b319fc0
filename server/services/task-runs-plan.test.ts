// A worker's claims and outcomes on both dialects, planned with statistics taken before a burst of submissions
// (autovacuum analyzes a minute or more after one): each finds its tasks by primary key. Planned by status, a
// claim read every queued task of the backlog for each batch (18.7 ms to claim 2 tasks behind 20,000 queued).
import { describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { newId } from '../../db/index.ts';
import { dialects, useTestDeps } from '../testing/harness.ts';
import { createUser } from '../testing/factories.ts';
import { planOf } from '../testing/plans.ts';
import { runTask } from './task-runs.ts';

describe.each(dialects)('task claims and outcomes on %s', (dialect) => {
  const deps = useTestDeps(dialect);

  it('read their tasks by primary key, whatever the statistics say about statuses', async () => {
    const { db } = deps.current;
    const { tasks } = db.tables;
    const user = await createUser(deps.current);
    const rows = (status: 'completed' | 'queued', count: number) =>
      Array.from({ length: count }, (_, i) => ({ id: newId(), userId: user.id, type: 'math.sum', input: { numbers: [i, 1] }, status, createdAt: new Date() }));
    // The statistics of a service at rest: every task finished. Then a burst of submissions they have not seen.
    for (let i = 0; i < 4; i++) await db.orm.insert(tasks).values(rows('completed', 500));
    await db.analyze();
    const burst = rows('queued', 1000);
    for (let i = 0; i < burst.length; i += 500) await db.orm.insert(tasks).values(burst.slice(i, i + 500));

    const ran: { text: string; params: unknown[] }[] = [];
    const stop = db.onQuery((text, params) => ran.push({ text, params }));
    const job = () => ({ id: newId(), retryCount: 0, retryLimit: 2, signal: new AbortController().signal, expireInSeconds: 600 });
    // One attempt that reads its input with its claim, one that has it at hand (its claim and outcome in one statement).
    await runTask(deps.current, burst[0].id, job());
    await runTask(deps.current, burst[1].id, job(), { type: 'math.sum', input: burst[1].input });
    stop();
    const taskOf = async (id: string) => (await db.orm.select({ status: tasks.status, result: tasks.result }).from(tasks).where(eq(tasks.id, id)))[0];
    expect(await taskOf(burst[0].id)).toEqual({ status: 'completed', result: { sum: 1, count: 2 } });
    expect(await taskOf(burst[1].id)).toEqual({ status: 'completed', result: { sum: 2, count: 2 } });

    const writes = ran.filter((statement) => statement.text.startsWith('update "tasks"'));
    expect(writes).toHaveLength(3); // the claim and the outcome; the claim with its outcome
    for (const { text, params } of writes) {
      const plan = await planOf(db, text, params);
      expect(plan, text).toMatch(dialect === 'sqlite' ? /SEARCH tasks USING INDEX sqlite_autoindex_tasks_1 \(id=\?\)/ : /tasks_pkey/);
      expect(plan, text).not.toMatch(/tasks_status_created_idx/);
    }
  });
});
