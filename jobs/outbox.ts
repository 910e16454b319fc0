// The transactional outbox and its relay: when the jobs live in another database than the app's rows, a
// transaction writes its jobs as outbox rows beside those rows, and the relay moves them into pg-boss.
import { isDeepStrictEqual } from 'node:util';
import { and, asc, count, eq, gt, inArray, min } from 'drizzle-orm';
import type { Database, Tx } from '../db/index.ts';
import { newId } from '../db/index.ts';
import type { Logger } from '../server/logger.ts';

export type OutboxRow = { id: string; queue: string; data: unknown; createdAt: Date };

/** What made the relay send: a commit (the rows it just wrote), a process start, or the sweep. */
export type RelayTrigger = 'commit' | 'start' | 'sweep';

/**
 * Test-only seam between a commit and the send that follows it: called before each send, with what triggered
 * it. A throw fails that send as a refusing pg-boss would; a test can also end its process here. Only tests
 * pass one (an option of openQueue / assembleDeps, never a variable a deployment could set).
 */
export type RelayFault = (trigger: RelayTrigger, rows: readonly OutboxRow[]) => void | Promise<void>;

/** The backlog: rows written but not yet in pg-boss, and how long the oldest has waited. */
export type OutboxStats = { pending: number; oldestAgeSeconds: number | null };

export type Relay = {
  /**
   * Writes one outbox row per job in `tx`; the rows commit or roll back with it. From the write on, drains leave
   * the rows to the commit's own `deliver` (whose send carries the request's trace); the caller must end that
   * claim with `deliver` after the commit or `release` after a rollback.
   */
  write: (tx: Tx, queue: string, payloads: readonly unknown[]) => Promise<OutboxRow[]>;
  /**
   * Sends rows that just committed, then deletes them, and ends the write's claim on them. Never throws: after a
   * failure the rows stay for the sweep, which retries with backoff. While sends are failing it does not even try
   * (the sweep does), so a request never waits on a queue that refuses.
   */
  deliver: (rows: readonly OutboxRow[]) => Promise<void>;
  /** Ends the write's claim on rows whose transaction rolled back. */
  release: (rows: readonly OutboxRow[]) => void;
  /**
   * Strips the pending rows of `queue` whose payload's `field` is one of `values` down to that field; returns how
   * many it changed. A send that read such a row before (in any process) gives its job the row's new data when it
   * deletes the row (see `restore`); a job sent and deleted before is pg-boss's to strip (Queue.forget does next).
   */
  forget: (queue: string, field: string, values: readonly string[]) => Promise<number>;
  /** Sends every row in the outbox, oldest first, deleting each batch once pg-boss has it. Throws on failure. */
  drain: (trigger: Exclude<RelayTrigger, 'commit'>) => Promise<number>;
  /** Sweeps now and then until `stop` (after a failure the relay retries with backoff whether sweeping or not). */
  startSweeping: () => void;
  stats: () => Promise<OutboxStats>;
  /** Ends the sweep and waits for a send in progress. */
  stop: () => Promise<void>;
};

export type RelayOptions = {
  db: Database;
  logger: Logger;
  /** Inserts jobs into one pg-boss queue with the given ids; a job whose id exists already is skipped. */
  send: (queue: string, jobs: { id: string; data: unknown }[]) => Promise<void>;
  /** Gives jobs of one queue that pg-boss has the data their rows hold now (rows changed while they were sent). */
  restore: (queue: string, jobs: { id: string; data: unknown }[]) => Promise<void>;
  fault?: RelayFault | undefined;
  /** Between sweeps while all is well: rows left by another process that died (several processes, one outbox). */
  sweepIntervalMs?: number;
  /** The first retry after a failure; doubled per failure up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
};

const BATCH = 500;

/** Equal as JSON: a payload read back has no `undefined` members, and Postgres' jsonb orders keys its own way. */
const sameJson = (a: unknown, b: unknown): boolean => isDeepStrictEqual(a, b) || isDeepStrictEqual(JSON.parse(JSON.stringify(a ?? null)), JSON.parse(JSON.stringify(b ?? null)));

export function createRelay({ db, logger, send, restore, fault, sweepIntervalMs = 10_000, backoffMs = 250, maxBackoffMs = 30_000 }: RelayOptions): Relay {
  const { outbox } = db.tables;
  let failures = 0;
  let timer: NodeJS.Timeout | null = null;
  let sweeping = false;
  let stopped = false;
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(work: Promise<T>): Promise<T> => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work)).catch(() => {});
    return work;
  };

  /** pg-boss first, then the delete: a crash in between leaves rows whose second send makes no second job. */
  async function relay(trigger: RelayTrigger, rows: readonly OutboxRow[]): Promise<void> {
    await fault?.(trigger, rows);
    const byQueue = new Map<string, { id: string; data: unknown }[]>();
    for (const row of rows) {
      const jobs = byQueue.get(row.queue) ?? [];
      if (!byQueue.has(row.queue)) byQueue.set(row.queue, jobs);
      jobs.push({ id: row.id, data: row.data });
    }
    // One queue refusing its jobs does not hold back the others'.
    const sent: string[] = [];
    let failure: Error | null = null;
    for (const [queue, jobs] of byQueue) {
      try {
        await send(queue, jobs);
        sent.push(...jobs.map((job) => job.id));
      } catch (error) {
        failure ??= error instanceof Error ? error : new Error(String(error));
      }
    }
    if (sent.length > 0) {
      const deleted = await db.orm.delete(outbox).where(inArray(outbox.id, sent)).returning({ id: outbox.id, queue: outbox.queue, data: outbox.data });
      // A row stripped while it was being sent (Relay.forget, from any process): its job gets what the row holds now.
      const asSent = new Map(rows.map((row) => [row.id, row.data]));
      const changed = new Map<string, { id: string; data: unknown }[]>();
      for (const row of deleted) {
        if (sameJson(row.data, asSent.get(row.id))) continue;
        const jobs = changed.get(row.queue) ?? [];
        if (!changed.has(row.queue)) changed.set(row.queue, jobs);
        jobs.push({ id: row.id, data: row.data });
      }
      for (const [queue, jobs] of changed) await restore(queue, jobs);
    }
    if (failure) throw failure;
  }

  const schedule = (delayMs: number) => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void sweep(), delayMs);
    timer.unref();
  };

  /**
   * Rows written by a transaction that has not yet handed them to its own send, or whose send is running: a drain
   * leaves them to it. Claimed at the write, not after the commit: a drain's select that lands between a commit
   * and the code after it would otherwise send the row too (one job either way, but a second send and no trace).
   */
  const delivering = new Set<string>();
  const release = (rows: readonly OutboxRow[]) => {
    for (const row of rows) delivering.delete(row.id);
  };
  let draining: Promise<number> | null = null;
  const drain = (trigger: 'start' | 'sweep'): Promise<number> =>
    (draining ??= track(
      (async () => {
        let sent = 0;
        for (;;) {
          const rows = await db.orm.select().from(outbox).orderBy(asc(outbox.createdAt)).limit(BATCH);
          const pending = rows.filter((row) => !delivering.has(row.id));
          if (pending.length === 0) break;
          await relay(trigger, pending);
          sent += pending.length;
          if (rows.length < BATCH || stopped) break;
        }
        return sent;
      })().finally(() => (draining = null)),
    ));

  async function sweep(): Promise<void> {
    timer = null;
    try {
      const sent = await drain('sweep');
      if (failures > 0 || sent > 0) logger.info({ sent, after: failures }, 'job outbox relayed after failed sends');
      failures = 0;
      if (sweeping) schedule(sweepIntervalMs);
    } catch (error) {
      failures++;
      const delay = Math.min(maxBackoffMs, backoffMs * 2 ** (failures - 1));
      logger.warn({ err: error, failures, retryInMs: delay }, 'job outbox: pg-boss refused the jobs; they stay in the outbox and are retried');
      schedule(delay);
    }
  }

  return {
    write: async (tx, queue, payloads) => {
      const createdAt = new Date();
      const rows = payloads.map((data) => ({ id: newId(), queue, data, createdAt }));
      for (const row of rows) delivering.add(row.id);
      try {
        for (let i = 0; i < rows.length; i += BATCH) await tx.insert(outbox).values(rows.slice(i, i + BATCH));
      } catch (error) {
        // Never returned, so the caller cannot release them: the claim ends here.
        release(rows);
        throw error;
      }
      return rows;
    },

    deliver: async (rows) => {
      try {
        if (rows.length === 0 || failures > 0 || stopped) return;
        await track(relay('commit', rows));
      } catch (error) {
        failures++;
        logger.warn({ err: error, jobs: rows.length }, 'job outbox: sending after the commit failed; the sweep retries');
        schedule(backoffMs);
      } finally {
        release(rows);
      }
    },

    release,

    forget: async (queue, field, values) => {
      const wanted = new Set(values);
      const keyOf = (data: unknown) => (typeof data === 'object' && data !== null ? (data as Record<string, unknown>)[field] : undefined);
      let changed = 0;
      // Page by id: while pg-boss refuses jobs, the outbox holds a backlog of any size.
      for (let after = ''; ; ) {
        const rows = await db.orm
          .select({ id: outbox.id, data: outbox.data })
          .from(outbox)
          .where(and(eq(outbox.queue, queue), gt(outbox.id, after)))
          .orderBy(asc(outbox.id))
          .limit(BATCH);
        for (const row of rows) {
          const key = keyOf(row.data);
          if (typeof key !== 'string' || !wanted.has(key) || Object.keys(row.data as object).length === 1) continue;
          await db.orm.update(outbox).set({ data: { [field]: key } }).where(eq(outbox.id, row.id));
          changed++;
        }
        if (rows.length < BATCH) break;
        after = rows[rows.length - 1].id;
      }
      return changed;
    },

    drain,

    startSweeping: () => {
      if (sweeping || stopped) return;
      sweeping = true;
      schedule(failures > 0 ? backoffMs : sweepIntervalMs);
    },

    stats: async () => {
      const [row] = await db.orm.select({ pending: count(), oldest: min(outbox.createdAt) }).from(outbox);
      const oldest = row?.oldest ? new Date(row.oldest).getTime() : null;
      return { pending: row?.pending ?? 0, oldestAgeSeconds: oldest === null ? null : Math.max(0, (Date.now() - oldest) / 1000) };
    },

    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await Promise.allSettled([...inFlight]);
    },
  };
}
