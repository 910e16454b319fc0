// Composition root of the API process: config → logger → deps → HTTP server, and one graceful shutdown path.
import { queueBackendFor } from '../jobs/queue.ts';
import type { RelayFault } from '../jobs/outbox.ts';
import { embeddedPaths, writeBackup } from './backup.ts';
import { claimDataDir, type DataDirClaim } from './control-socket.ts';
import { buildDeps, closeDeps, type Deps } from './deps.ts';
import { createApp } from './http/app.ts';
import type { Lifecycle } from './http/ops.ts';
import { drain, listen } from './http/server.ts';
import { createLogger } from './logger.ts';
import { failedToStart, readConfigOrExit, shutdownOn } from './process.ts';
import { collectStartupGarbage, startIdleCollector } from './runtime/idle-gc.ts';

/** Test-only knobs for a test's own entry script (server/testing/): `npm start` passes none. */
export type ApiProcessOptions = { relayFault?: RelayFault };

export async function runApiProcess(options: ApiProcessOptions = {}): Promise<void> {
  const config = readConfigOrExit('ai-backend-service');
  const logger = createLogger({ level: config.LOG_LEVEL, pretty: config.NODE_ENV === 'development' && process.stdout.isTTY });

  // PGlite serves one process: with jobs on it (the embedded default) this process must also work them.
  const workerInProcess = config.WORKER_IN_PROCESS ?? queueBackendFor(config).kind === 'pglite';
  let deps: Deps;
  const startQueue = async () => {
    await deps.queue.start();
    if (workerInProcess) await deps.queue.work(deps);
  };
  // The server listens first and the queue comes up behind it; either way a broken queue setup stops the process.
  // Where jobs commit as job outbox rows (the embedded default, QUEUE_DATABASE_URL), a request needs no queue to
  // enqueue, and the queue's start relays whatever requests wrote meanwhile. Where they commit with the app's rows in
  // pg-boss (one Postgres), a request that enqueues waits for the start (jobs/queue.ts `ready`: pg-boss's start and
  // its queues, ~0.2 s), and every other request is served at once.
  // The embedded default's files are this process's alone (PGlite serves one process): a second server (or a
  // restore) on them refuses to start, and `npm run backup` asks this process for a copy through the same socket.
  const embedded = embeddedPaths(config);
  let claim: DataDirClaim | null = null;
  try {
    if (embedded?.queueDir) {
      claim = await claimDataDir(embedded.dataDir, 'the API server');
      if (!claim) logger.warn({ dataDir: embedded.dataDir }, 'data directory path too long for its control socket: npm run backup needs the server stopped');
    }
    deps = await buildDeps(config, logger, { worker: workerInProcess, relayFault: options.relayFault });
  } catch (error) {
    failedToStart(logger, error);
  }
  if (embedded && claim) {
    const { sqlitePath } = embedded;
    claim.serve({
      backup: (out) => writeBackup({ sqlitePath, version: deps.version, freeze: (fn) => deps.db.transaction(() => fn()), queueSnapshot: () => deps.queue.snapshot() }, out),
    });
  }

  const lifecycle: Lifecycle = { shuttingDown: false };
  const app = createApp(deps, lifecycle);
  // What start-up keeps leaves the young generation now, not in a pause of the first requests.
  collectStartupGarbage();
  const { server, url } = await listen(app, config.HOST, config.PORT).catch((error: unknown) => failedToStart(logger, error));
  logger.info({ url, dialect: deps.db.dialect, queue: deps.queue.backend, workerInProcess, version: deps.version, env: config.NODE_ENV }, 'listening');
  const idleCollector = startIdleCollector({
    alsoCollect: () =>
      void deps.queue.collect().then(
        (collected) => {
          if (collected) logger.debug({ heapMiB: { before: Math.round(collected.before / 2 ** 20), after: Math.round(collected.after / 2 ** 20) } }, 'job queue thread collected');
        },
        (error: unknown) => logger.debug({ err: error }, 'job queue thread could not collect'),
      ),
  });
  server.on('request', idleCollector.note);
  // Without Redis on Postgres, the cache serves from memory once it hears the other processes' invalidations.
  void deps.cache.start();
  startQueue().then(
    () => logger.info({ queue: deps.queue.backend, workerInProcess }, 'job queue started'),
    (error: unknown) => {
      if (!lifecycle.shuttingDown) failedToStart(logger, error);
    },
  );

  // Readiness turns 503 → live streams end → no new connections → in-flight requests finish (idle keep-alive connections close at
  // once, the rest are cut at the deadline) while in-process jobs finish or go back for retry; requests still
  // draining can enqueue jobs until the queue closes with the other pools.
  shutdownOn(logger, config.SHUTDOWN_TIMEOUT_MS, async () => {
    lifecycle.shuttingDown = true;
    idleCollector.stop();
    // Live streams never finish by themselves: they end first (their clients reconnect elsewhere) so that the drain
    // waits only for ordinary requests.
    const liveClosed = deps.live.close();
    const [drained] = await Promise.all([drain(server, config.SHUTDOWN_TIMEOUT_MS), deps.queue.stopWorking(Math.min(config.SHUTDOWN_TIMEOUT_MS, config.WORKER_SHUTDOWN_TIMEOUT_MS)), liveClosed]);
    if (!drained) logger.warn('requests still in flight at the deadline were cut off');
    await closeDeps(deps);
    await claim?.release();
  });
}

if (import.meta.main) await runApiProcess();
