// The transactional outbox on both dialects (jobs on a PGlite of their own, as beside the embedded SQLite):
// rows commit with the transaction, a failed send never fails it, the sweep retries, and a row sent twice
// (by a relay that died before deleting it, or by two relays) makes one job.
import { eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { closeDeps, type Deps } from '../server/deps.ts';
import { captureLogs, createTestDeps, dialects } from '../server/testing/harness.ts';
import { createReadinessCheck } from '../server/services/health.ts';
import { runTaskJob } from './definitions/run-task.ts';
import { welcomeEmailJob } from './definitions/welcome-email.ts';
import { createRelay, type OutboxRow, type RelayTrigger } from './outbox.ts';
import { createUser } from '../server/testing/factories.ts';

describe.each(dialects)('the job outbox on %s (jobs in another database)', (dialect) => {
  let deps: Deps;
  const failing = new Set<RelayTrigger>();
  const relayed: { trigger: RelayTrigger; rows: readonly OutboxRow[] }[] = [];
  const logs = captureLogs('info');
  beforeAll(async () => {
    deps = await createTestDeps(dialect, {
      logger: logs.logger,
      queueBackend: { kind: 'pglite', dataDir: null },
      relayFault: (trigger, rows) => {
        relayed.push({ trigger, rows });
        if (failing.has(trigger)) throw new Error(`injected: ${trigger} send fails`);
      },
    });
    // pg-boss on a fresh PGlite takes a while to start: not inside the first test.
    await deps.queue.start();
  });
  afterAll(async () => {
    if (deps) await closeDeps(deps);
  });

  const outboxRows = () => deps.db.orm.select().from(deps.db.tables.outbox);
  const newUser = async (tx: Parameters<Parameters<Deps['queue']['transaction']>[0]>[0]) => {
    const { users } = deps.db.tables;
    const id = crypto.randomUUID();
    await tx.insert(users).values({ id, username: `ob_${id.slice(0, 8)}`, email: `${id}@example.com`, passwordHash: 'x' });
    return id;
  };

  it('writes the jobs in the transaction and sends them right after the commit, each as the job with its row’s id', async () => {
    expect(deps.queue.sharesAppDatabase).toBe(false);
    relayed.length = 0;
    const statements: string[] = [];
    const stop = deps.db.onQuery((query) => statements.push(query));
    const userId = await deps.queue.transaction(async (tx, enqueue) => {
      const id = await newUser(tx);
      await enqueue(welcomeEmailJob, { userId: id });
      return id;
    });
    stop();
    expect(statements.findIndex((query) => /^insert into "outbox"/i.test(query))).toBeLessThan(statements.findIndex((query) => /^delete from "outbox"/i.test(query)));
    expect(relayed.map(({ trigger, rows }) => ({ trigger, queues: rows.map((row) => row.queue) }))).toEqual([{ trigger: 'commit', queues: ['email.welcome'] }]);
    const jobs = await deps.queue.find(welcomeEmailJob, { userId });
    expect(jobs.map((job) => job.id)).toEqual([relayed[0].rows[0].id]);
    expect(await outboxRows()).toEqual([]);
  });

  it('leaves neither rows nor jobs after a rollback', async () => {
    let userId = '';
    await expect(
      deps.queue.transaction(async (tx, enqueue) => {
        userId = await newUser(tx);
        await enqueue(welcomeEmailJob, { userId });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await outboxRows()).toEqual([]);
    expect(await deps.queue.find(welcomeEmailJob, { userId })).toEqual([]);
  });

  it('commits even when the send fails; the rows wait, visibly, and the sweep sends them once pg-boss takes them', async () => {
    failing.add('commit').add('sweep');
    const user = await createUser(deps);
    const taskIds = [crypto.randomUUID(), crypto.randomUUID()];
    try {
      await deps.queue.transaction(async (tx, enqueue) => {
        await tx.insert(deps.db.tables.tasks).values(taskIds.map((id) => ({ id, userId: user.id, type: 'math.sum', input: { numbers: [1] }, createdAt: new Date() })));
        await enqueue(runTaskJob, ...taskIds.map((taskId) => ({ taskId })));
      });
      expect((await outboxRows()).map((row) => row.queue)).toEqual(['tasks.run', 'tasks.run']);
      const stats = await deps.queue.outbox();
      expect(stats).toEqual({ pending: 2, oldestAgeSeconds: expect.any(Number) });
      // The sweep keeps trying, backing off, while pg-boss refuses.
      await expect.poll(() => relayed.filter((entry) => entry.trigger === 'sweep').length).toBeGreaterThanOrEqual(2);
      expect(logs.lines.some((line) => line.msg === 'job outbox: sending after the commit failed; the sweep retries')).toBe(true);
      for (const taskId of taskIds) expect(await deps.queue.find(runTaskJob, { taskId })).toEqual([]);
    } finally {
      failing.clear();
    }
    await expect.poll(async () => (await outboxRows()).length).toBe(0);
    for (const taskId of taskIds) expect(await deps.queue.find(runTaskJob, { taskId })).toHaveLength(1);
    expect(await deps.queue.outbox()).toEqual({ pending: 0, oldestAgeSeconds: null });
  });

  it('makes one job of a row sent again by a relay that died between the send and the delete', async () => {
    relayed.length = 0;
    const userId = await deps.queue.transaction(async (tx, enqueue) => {
      const id = await newUser(tx);
      await enqueue(welcomeEmailJob, { userId: id });
      return id;
    });
    const [sent] = relayed[0].rows;
    // As if the relay had died between pg-boss's insert and the delete: the row is back.
    await deps.db.orm.insert(deps.db.tables.outbox).values(sent);
    await Promise.all([deps.queue.start(), deps.queue.start(), deps.queue.outbox()]);
    expect(await outboxRows()).toEqual([]);
    expect((await deps.queue.find(welcomeEmailJob, { userId })).map((job) => job.id)).toEqual([sent.id]);
    expect(relayed.some((entry) => entry.trigger === 'start' && entry.rows.some((row) => row.id === sent.id))).toBe(true);
  });

  it('leaves rows to the send of the commit that wrote them, even when a drain reads them before that send begins', async () => {
    // A relay of its own over the same outbox, with a send that records: the drain runs after the commit and
    // before the commit's own deliver, the window a start's drain once hit (the row was sent twice).
    const sends: { queue: string; ids: string[] }[] = [];
    const relay = createRelay({ db: deps.db, logger: logs.logger, send: async (queue, jobs) => void sends.push({ queue, ids: jobs.map((job) => job.id) }), restore: async () => {} });
    const written = await deps.db.transaction((tx) => relay.write(tx, 'test.claimed', [{ n: 1 }, { n: 2 }]));
    try {
      expect(await relay.drain('sweep')).toBe(0);
      expect(sends).toEqual([]);
      await relay.deliver(written);
      expect(sends).toEqual([{ queue: 'test.claimed', ids: written.map((row) => row.id) }]);
      expect(await outboxRows()).toEqual([]);
      // A rolled-back write's claim ends with its release: a row of that id is the drain's to send again.
      let rolledBack: OutboxRow[] = [];
      await expect(
        deps.db.transaction(async (tx) => {
          rolledBack = await relay.write(tx, 'test.claimed', [{ n: 3 }]);
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      relay.release(rolledBack);
      expect(await outboxRows()).toEqual([]);
      await deps.db.orm.insert(deps.db.tables.outbox).values(rolledBack);
      expect(await relay.drain('sweep')).toBe(1);
      expect(sends.at(-1)).toEqual({ queue: 'test.claimed', ids: [rolledBack[0].id] });
    } finally {
      await relay.stop();
      await deps.db.orm.delete(deps.db.tables.outbox).where(inArray(deps.db.tables.outbox.id, written.map((row) => row.id)));
    }
  });

  it('keeps readiness but logs a warning when the oldest row has waited over a minute', async () => {
    const { outbox } = deps.db.tables;
    const id = crypto.randomUUID();
    const readiness = createReadinessCheck(deps);
    expect(await readiness()).toEqual({ ready: true });
    expect(logs.lines.filter((line) => line.msg === 'job outbox: jobs have waited over a minute for pg-boss')).toEqual([]);
    // A row the relay has not been able to send for two minutes (for a queue pg-boss does not have, so the
    // sweep cannot send it during the test either).
    await deps.db.orm.insert(outbox).values({ id, queue: 'no.such.queue', data: {}, createdAt: new Date(Date.now() - 120_000) });
    try {
      expect(await readiness()).toEqual({ ready: true });
      const warnings = logs.lines.filter((line) => line.msg === 'job outbox: jobs have waited over a minute for pg-boss');
      expect(warnings).toEqual([expect.objectContaining({ level: 40, pending: 1, oldestAgeSeconds: expect.any(Number) })]);
      expect(warnings[0].oldestAgeSeconds).toBeGreaterThanOrEqual(120);
      // Once a minute at most.
      expect(await readiness()).toEqual({ ready: true });
      expect(logs.lines.filter((line) => line.msg === 'job outbox: jobs have waited over a minute for pg-boss')).toHaveLength(1);
    } finally {
      await deps.db.orm.delete(outbox).where(eq(outbox.id, id));
    }
  });

  it('sends the jobs of other queues when one queue refuses its own, and keeps the refused rows', async () => {
    const { outbox } = deps.db.tables;
    const refused = { id: crypto.randomUUID(), queue: 'no.such.queue', data: {}, createdAt: new Date(Date.now() - 1000) };
    const good = { id: crypto.randomUUID(), queue: welcomeEmailJob.name, data: { userId: 'someone' }, createdAt: new Date() };
    await deps.db.orm.insert(outbox).values([refused, good]);
    try {
      await expect.poll(async () => (await outboxRows()).map((row) => row.id)).toEqual([refused.id]);
      expect((await deps.queue.find(welcomeEmailJob, { userId: 'someone' })).map((job) => job.id)).toEqual([good.id]);
    } finally {
      await deps.db.orm.delete(outbox).where(eq(outbox.id, refused.id));
    }
  });
});

describe.each(dialects)('the jobs of deleted tasks on %s (jobs in another database)', (dialect) => {
  it('strips the rows and jobs of deleted tasks down to their task id, and a send under way strips the job it made', async () => {
    // Deps of its own: a send failed in an earlier test would leave this relay's commits to its sweep.
    const failing = new Set<RelayTrigger>();
    /** While set, a commit's send waits for it (a send in progress). */
    let holding: Promise<void> | null = null;
    const relayed: { trigger: RelayTrigger; rows: readonly OutboxRow[] }[] = [];
    const deps = await createTestDeps(dialect, {
      queueBackend: { kind: 'pglite', dataDir: null },
      relayFault: (trigger, rows) => {
        relayed.push({ trigger, rows });
        if (failing.has(trigger)) throw new Error(`injected: ${trigger} send fails`);
        if (trigger === 'commit' && holding) return holding;
      },
    });
    onTestFinished(() => closeDeps(deps));
    await deps.queue.start();
    const outboxRows = () => deps.db.orm.select().from(deps.db.tables.outbox);
    const user = await createUser(deps);
    const run = { type: 'math.sum', input: { numbers: [4, 2] } };
    const [sent, waiting, inHand, other] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    const submit = (taskId: string) =>
      deps.queue.transaction(async (tx, enqueue) => {
        await tx.insert(deps.db.tables.tasks).values({ id: taskId, userId: user.id, type: run.type, input: run.input, createdAt: new Date() });
        await enqueue(runTaskJob, { taskId, run });
      });
    await submit(sent);
    await submit(other);
    // A commit whose send is under way: it sends the row as written, whatever the outbox holds by then.
    let open = () => {};
    holding = new Promise<void>((resolve) => (open = resolve));
    const committing = submit(inHand);
    try {
      await expect.poll(() => relayed.some((entry) => entry.trigger === 'commit' && entry.rows.some((row) => (row.data as { taskId: string }).taskId === inHand))).toBe(true);
      // And a row whose sends fail: it waits in the outbox.
      failing.add('commit').add('sweep');
      await submit(waiting);
      const [waitingRow] = (await outboxRows()).filter((row) => (row.data as { taskId: string }).taskId === waiting);
      expect(waitingRow.data).toEqual({ taskId: waiting, run });
      // Both rows in the outbox (the one in hand is deleted once sent); of the jobs, only the one already sent.
      expect(await deps.queue.forget(runTaskJob, 'taskId', [sent, waiting, inHand])).toEqual({ outbox: 2, jobs: 1 });
      expect((await outboxRows()).find((row) => row.id === waitingRow.id)?.data).toEqual({ taskId: waiting });
      expect(await deps.queue.find(runTaskJob, { taskId: inHand })).toEqual([]);
    } finally {
      failing.clear();
      holding = null;
      open();
    }
    // The send in hand inserts its job as it read the row, then finds the row changed as it deletes it: the job
    // gets what the row holds now.
    await committing;
    await deps.queue.start();
    await expect.poll(async () => (await outboxRows()).length).toBe(0);
    for (const taskId of [sent, waiting, inHand]) expect((await deps.queue.find(runTaskJob, { taskId })).map((job) => job.data)).toEqual([{ taskId }]);
    expect((await deps.queue.find(runTaskJob, { taskId: other })).map((job) => job.data)).toEqual([{ taskId: other, run }]);
    // Done twice, it finds nothing more to strip.
    expect(await deps.queue.forget(runTaskJob, 'taskId', [sent, waiting, inHand])).toEqual({ outbox: 0, jobs: 0 });
  });
});

describe.each(dialects)('a commit while the queue is starting, on %s (jobs in another database)', (dialect) => {
  it('does not wait for pg-boss: its rows wait in the outbox, and its own send delivers them once pg-boss is up', async () => {
    const relayed: { trigger: RelayTrigger; ids: string[] }[] = [];
    const deps = await createTestDeps(dialect, {
      queueBackend: { kind: 'pglite', dataDir: null },
      relayFault: (trigger, rows) => void relayed.push({ trigger, ids: rows.map((row) => row.id) }),
    });
    try {
      let started = false;
      // pg-boss on a fresh PGlite compiles Postgres' WASM build and creates its schema first: hundreds of
      // milliseconds, against one transaction of the app database.
      const starting = deps.queue.start().then(() => (started = true));
      const userId = await deps.queue.transaction(async (tx, enqueue) => {
        const id = crypto.randomUUID();
        await tx.insert(deps.db.tables.users).values({ id, username: `st_${id.slice(0, 8)}`, email: `${id}@example.com`, passwordHash: 'x' });
        await enqueue(welcomeEmailJob, { userId: id });
        return id;
      });
      expect(started).toBe(false);
      const [waiting] = await deps.db.orm.select().from(deps.db.tables.outbox);
      expect(waiting).toMatchObject({ queue: 'email.welcome' });
      await starting;
      await expect.poll(() => deps.db.orm.select().from(deps.db.tables.outbox), { interval: 20 }).toEqual([]);
      // Sent once, by the commit's own send (the start's drain left the row to it).
      expect(relayed).toEqual([{ trigger: 'commit', ids: [waiting.id] }]);
      expect((await deps.queue.find(welcomeEmailJob, { userId })).map((job) => job.id)).toEqual([waiting.id]);
    } finally {
      await closeDeps(deps);
    }
  });
});
