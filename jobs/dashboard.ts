// pg-boss's own web dashboard (@pg-boss/dashboard) over the queue's Postgres, imported on its first request.
import type { DashboardHandler } from '@pg-boss/dashboard/handler';

/** A fetch-style view of the dashboard, mounted by the HTTP layer at `basePath`. */
export type QueueDashboard = {
  fetch: (request: Request) => Promise<Response>;
  /** Releases the dashboard's pools and pg-boss instance; nothing to do when it was never loaded. */
  close: () => Promise<void>;
};

/**
 * The dashboard's React Router server, its own pg-boss copy and pools are loaded only when someone opens the
 * page: a process that never serves it pays nothing for it at start or idle. `name` is what the page shows
 * for the database, instead of the name in the URL.
 */
export function lazyQueueDashboard(url: string, basePath: string): QueueDashboard {
  let handler: Promise<DashboardHandler> | null = null;
  let closed = false;
  const load = () =>
    (handler ??= Promise.resolve()
      .then(() => {
        // Read-only: @pg-boss/dashboard 1.9.0 bundles an older pg-boss (schema 42) than ours (12.38, schema 46).
        // Its pages read the tables fine, but every button (retry, cancel, delete, send) starts that older
        // pg-boss, which refuses a newer schema ("pg-boss database requires migrations"). Read-only hides the
        // buttons and refuses such requests; operators act on jobs through the jobs.* procedures. The package
        // reads this variable and nothing else of ours does.
        process.env.PGBOSS_DASHBOARD_READ_ONLY = '1';
        return import('@pg-boss/dashboard/handler');
      })
      // The host authenticates (server/http/queues-dashboard.ts); the dashboard must not ask again.
      .then(({ createDashboardHandler }) => createDashboardHandler({ databases: [{ url, name: 'jobs', schema: 'pgboss' }], basePath, auth: false }))
      .catch((error: unknown) => {
        handler = null;
        throw error;
      }));
  return {
    fetch: async (request) => {
      if (closed) return new Response('the job dashboard is closed', { status: 503 });
      return (await load())(request);
    },
    close: async () => {
      closed = true;
      const loaded = await handler?.catch(() => null);
      await loaded?.close();
    },
  };
}
