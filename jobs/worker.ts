// Composition root of a worker process (`npm run worker`): works every queue until SIGTERM, then stops
// gracefully. Run any number of them, on any machines, against one Postgres. A small HTTP server on
// WORKER_PORT answers health probes and serves /metrics.
import { buildDeps, closeDeps, type Deps } from '../server/deps.ts';
import { createOpsApp, type Lifecycle } from '../server/http/ops.ts';
import { drain, listen } from '../server/http/server.ts';
import { createLogger } from '../server/logger.ts';
import { failedToStart, readConfigOrExit, shutdownOn } from '../server/process.ts';
import { queueBackendFor } from './queue.ts';

const config = readConfigOrExit('ai-backend-service worker');
const logger = createLogger({ level: config.LOG_LEVEL, pretty: config.NODE_ENV === 'development' && process.stdout.isTTY }).child({ role: 'worker' });

if (queueBackendFor(config).kind === 'pglite') {
  logger.fatal('the jobs live in PGlite, which only the API process can open (WORKER_IN_PROCESS); point DATABASE_URL or QUEUE_DATABASE_URL at Postgres to run workers');
  process.exit(1);
}

let deps: Deps;
try {
  deps = await buildDeps(config, logger, { worker: true });
} catch (error) {
  failedToStart(logger, error);
}

const lifecycle: Lifecycle = { shuttingDown: false };
const ops = config.WORKER_PORT > 0 ? await listen(createOpsApp(deps, lifecycle), config.HOST, config.WORKER_PORT).catch((error: unknown) => failedToStart(logger, error)) : null;

// No new jobs; active ones get WORKER_SHUTDOWN_TIMEOUT_MS to finish, the rest go back for retry; then pools close.
shutdownOn(logger, config.WORKER_SHUTDOWN_TIMEOUT_MS, async () => {
  lifecycle.shuttingDown = true;
  await Promise.all([deps.queue.stopWorking(config.WORKER_SHUTDOWN_TIMEOUT_MS), ops ? drain(ops.server, 1_000) : null]);
  await closeDeps(deps, config.WORKER_SHUTDOWN_TIMEOUT_MS);
});

try {
  await deps.queue.start();
  await deps.queue.work(deps);
} catch (error) {
  failedToStart(logger, error);
}
logger.info({ concurrency: config.WORKER_CONCURRENCY, perQueue: config.WORKER_QUEUE_CONCURRENCY, probes: ops?.url ?? null, version: deps.version }, 'working');
