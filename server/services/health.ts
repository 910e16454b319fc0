// Liveness and readiness facts for probes and the health.check procedure.
import type { Deps } from '../deps.ts';

export type Readiness = { ready: true } | { ready: false; reason: string };

const startedAt = Date.now();
export const uptimeSeconds = (): number => Math.floor((Date.now() - startedAt) / 1000);

/**
 * Ready when the database answers and no committed migration is pending. Once migrations are known to be
 * current they stay current for this process, so later probes cost one trivial query.
 */
export function createReadinessCheck(deps: Pick<Deps, 'db'>) {
  let migrationsCurrent = false;
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
    return { ready: true };
  };
}
