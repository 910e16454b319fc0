// Liveness and readiness facts for probes and the health.check procedure.
import type { Deps } from '../deps.ts';

export type Readiness = { ready: true } | { ready: false; reason: string };

const startedAt = Date.now();
export const uptimeSeconds = (): number => Math.floor((Date.now() - startedAt) / 1000);

/** A job outbox row older than this is worth a warning: the relay should have sent it within seconds. */
export const OUTBOX_WARNING_AGE_SECONDS = 60;

/**
 * Ready when the database answers and no committed migration is pending. Once migrations are known to be
 * current they stay current for this process, so later probes cost one trivial query (and, with a queue, one
 * look at the job outbox: a backlog older than a minute is logged, at most once a minute, but does not make
 * the process unready: it still takes requests, and restarting it would not send the jobs any sooner). Unready
 * when the embedded queue's PGlite thread died more often than it is restarted: only a restart brings it back.
 */
export function createReadinessCheck(deps: Pick<Deps, 'db'> & Partial<Pick<Deps, 'queue' | 'logger'>>) {
  let migrationsCurrent = false;
  let warnedAt = 0;
  const checkOutbox = async () => {
    const { queue, logger } = deps;
    if (!queue || !logger || Date.now() - warnedAt < OUTBOX_WARNING_AGE_SECONDS * 1000) return;
    const outbox = await queue.outbox().catch(() => null);
    if (outbox?.oldestAgeSeconds != null && outbox.oldestAgeSeconds > OUTBOX_WARNING_AGE_SECONDS) {
      warnedAt = Date.now();
      logger.warn({ pending: outbox.pending, oldestAgeSeconds: Math.round(outbox.oldestAgeSeconds) }, 'job outbox: jobs have waited over a minute for pg-boss');
    }
  };
  return async (): Promise<Readiness> => {
    try {
      await deps.db.ping();
    } catch {
      return { ready: false, reason: 'database unreachable' };
    }
    if (!migrationsCurrent) {
      const pending = await deps.db.pendingMigrations().catch(() => -1);
      if (pending < 0) return { ready: false, reason: 'could not read migration state' };
      if (pending > 0) return { ready: false, reason: `${pending} database migration(s) pending` };
      migrationsCurrent = true;
    }
    if (deps.queue?.failure()) return { ready: false, reason: 'job queue unavailable' };
    await checkOutbox();
    return { ready: true };
  };
}
