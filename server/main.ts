// Composition root of the API process: config → logger → deps → HTTP server, and one graceful shutdown path.
import { ConfigError, loadConfig, readDotEnv, type Config } from './config.ts';
import { DatabaseUnavailableError } from '../db/index.ts';
import { queueBackendFor } from '../jobs/queue.ts';
import { buildDeps, closeDeps, type Deps } from './deps.ts';
import { createApp, type Lifecycle } from './http/app.ts';
import { drain, listen } from './http/server.ts';
import { createLogger } from './logger.ts';

function readConfig(): Config {
  try {
    return loadConfig(readDotEnv());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`ai-backend-service: ${error.message}\n`);
    process.exit(1);
  }
}

async function main(): Promise<void> {
  const config = readConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, pretty: config.NODE_ENV === 'development' && process.stdout.isTTY });

  // PGlite serves one process: with jobs on it (the embedded default) this process must also work them.
  const workerInProcess = config.WORKER_IN_PROCESS ?? queueBackendFor(config).kind === 'pglite';
  let deps: Deps;
  try {
    deps = await buildDeps(config, logger, { worker: workerInProcess });
    // Queues are created now: a broken queue setup fails the start, not the first request.
    await deps.queue.start();
    if (workerInProcess) await deps.queue.work(deps);
  } catch (error) {
    if (error instanceof DatabaseUnavailableError) logger.fatal(error.message);
    else logger.fatal({ err: error }, 'could not start');
    process.exit(1);
  }

  const lifecycle: Lifecycle = { shuttingDown: false };
  const { server, url } = await listen(createApp(deps, lifecycle), config.HOST, config.PORT);
  logger.info({ url, dialect: deps.db.dialect, queue: deps.queue.backend, workerInProcess, version: deps.version, env: config.NODE_ENV }, 'listening');

  const shutdown = async (signal: string) => {
    if (lifecycle.shuttingDown) return;
    lifecycle.shuttingDown = true;
    logger.info({ signal, deadlineMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutting down');
    // HTTP and jobs wind down side by side, inside the same deadline.
    const [drained] = await Promise.all([drain(server, config.SHUTDOWN_TIMEOUT_MS), deps.queue.stop(Math.min(config.SHUTDOWN_TIMEOUT_MS, config.WORKER_SHUTDOWN_TIMEOUT_MS))]);
    if (!drained) logger.warn('requests still in flight at the deadline were cut off');
    await closeDeps(deps);
    logger.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason }, 'unhandled promise rejection');
    process.exit(1);
  });
}

await main();
