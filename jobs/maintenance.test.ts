// The scheduled clean-up on both dialects: what has expired goes, what is still live stays.
import { describe, expect, it } from 'vitest';
import { eq, inArray } from 'drizzle-orm';
import { dialects, useTestDeps } from '../server/testing/harness.ts';
import { createUser, signIn } from '../server/testing/factories.ts';
import { cleanUp } from '../server/services/maintenance.ts';
import { runTaskJob } from './definitions/run-task.ts';

const DAY = 24 * 60 * 60 * 1000;

describe.each(dialects)('maintenance on %s', (dialect) => {
  const deps = useTestDeps(dialect, { env: { TASK_RETENTION_DAYS: '30' } });

  it('deletes expired sessions and reset tokens, and finished tasks past retention', async () => {
    const { db } = deps.current;
    const { sessions, passwordResetTokens, tasks, idempotencyKeys } = db.tables;
    const user = await createUser(deps.current);
    const live = await signIn(deps.current, user);
    const stale = await signIn(deps.current, user);
    const now = Date.now();
    await db.orm.update(sessions).set({ expiresAt: new Date(now - 1000) }).where(inArray(sessions.id, [stale.sessionId]));
    await db.orm.insert(passwordResetTokens).values([
      { userId: user.id, tokenHash: `expired-${now}`, jobId: `job-a-${now}`, createdAt: new Date(now - 2 * 60 * 60 * 1000), expiresAt: new Date(now - 60 * 60 * 1000) },
      { userId: user.id, tokenHash: `live-${now}`, jobId: `job-b-${now}`, createdAt: new Date(now), expiresAt: new Date(now + 60 * 60 * 1000) },
    ]);
    const task = (status: 'completed' | 'failed' | 'queued', finishedDaysAgo: number | null) => ({
      userId: user.id,
      type: 'math.sum',
      input: { numbers: [1] },
      status,
      createdAt: new Date(now - 40 * DAY),
      finishedAt: finishedDaysAgo === null ? null : new Date(now - finishedDaysAgo * DAY),
    });
    const key = (name: string, expiresAt: number) => ({ userId: user.id, procedure: 'posts.create', key: name, requestHash: 'h', createdAt: new Date(now - DAY), expiresAt: new Date(expiresAt) });
    await db.orm.insert(idempotencyKeys).values([key(`expired-${now}`, now - 1000), key(`live-${now}`, now + DAY)]);
    const inserted = await db.orm
      .insert(tasks)
      .values([task('completed', 31), task('failed', 45), task('completed', 2), task('queued', null)])
      .returning({ id: tasks.id });

    expect(await cleanUp(deps.current)).toEqual({ sessions: 1, resetTokens: 1, tasks: 2, idempotencyKeys: 1 });
    expect((await db.orm.select({ key: idempotencyKeys.key }).from(idempotencyKeys).where(eq(idempotencyKeys.userId, user.id))).map((row) => row.key)).toEqual([`live-${now}`]);
    expect((await db.orm.select({ id: sessions.id }).from(sessions).where(inArray(sessions.id, [live.sessionId, stale.sessionId]))).map((row) => row.id)).toEqual([live.sessionId]);
    const left = await db.orm.select({ id: tasks.id }).from(tasks).where(inArray(tasks.id, inserted.map((row) => row.id)));
    expect(left.map((row) => row.id).sort()).toEqual([inserted[2].id, inserted[3].id].sort());
    expect(await cleanUp(deps.current)).toEqual({ sessions: 0, resetTokens: 0, tasks: 0, idempotencyKeys: 0 });
  });
});

describe.each(dialects)('maintenance on %s, tasks kept for less time than pg-boss keeps jobs', (dialect) => {
  const deps = useTestDeps(dialect, { env: { TASK_RETENTION_DAYS: '3' } });

  it('strips the jobs of the tasks it deletes of the input they carried', async () => {
    const { db, queue } = deps.current;
    const { tasks } = db.tables;
    const user = await createUser(deps.current);
    const now = Date.now();
    const run = { type: 'math.sum', input: { numbers: [3, 4] } };
    const [gone, kept] = [crypto.randomUUID(), crypto.randomUUID()];
    await db.orm.insert(tasks).values(
      [gone, kept].map((id, i) => ({ id, userId: user.id, type: run.type, input: run.input, status: 'completed' as const, createdAt: new Date(now - 5 * DAY), finishedAt: new Date(now - (i === 0 ? 4 : 2) * DAY) })),
    );
    // Jobs nobody works here: as pg-boss keeps them for 7 days after they finished.
    await queue.sendMany(runTaskJob, [{ taskId: gone, run }, { taskId: kept, run }]);
    expect(await cleanUp(deps.current)).toMatchObject({ tasks: 1 });
    expect((await queue.find(runTaskJob, { taskId: gone })).map((job) => job.data)).toEqual([{ taskId: gone }]);
    expect((await queue.find(runTaskJob, { taskId: kept })).map((job) => job.data)).toEqual([{ taskId: kept, run }]);
  });
});
