// Composition root of a worker process (`npm run worker`): works every queue until SIGTERM, then stops
// gracefully. Run any number of them, on any machines, against one Postgres.
import { DatabaseUnavailableError } from '../db/index.ts';
import { ConfigError, loadConfig, readDotEnv, type Config } from '../server/config.ts';
import { buildDeps, closeDeps } from '../server/deps.ts';
import { createLogger } from '../server/logger.ts';
import { queueBackendFor } from './queue.ts';

function readConfig(): Config {
  try {
    return loadConfig(readDotEnv());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`ai-backend-service worker: ${error.message}\n`);
    process.exit(1);
  }
}
const config = readConfig();
const logger = createLogger({ level: config.LOG_LEVEL, pretty: config.NODE_ENV === 'development' && process.stdout.isTTY }).child({ role: 'worker' });

if (queueBackendFor(config).kind === 'pglite') {
  logger.fatal('the jobs live in PGlite, which only the API process can open (WORKER_IN_PROCESS); point DATABASE_URL or QUEUE_DATABASE_URL at Postgres to run workers');
  process.exit(1);
}

const deps = await buildDeps(config, logger, { worker: true }).catch((error: unknown) => {
  if (error instanceof DatabaseUnavailableError) logger.fatal(error.message);
  else logger.fatal({ err: error }, 'could not start');
  process.exit(1);
});

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal, deadlineMs: config.WORKER_SHUTDOWN_TIMEOUT_MS }, 'stopping: no new jobs; active ones finish or go back for retry');
  await closeDeps(deps, config.WORKER_SHUTDOWN_TIMEOUT_MS);
  logger.info('stopped');
  process.exit(0);
}
process.once('SIGTERM', () => void stop('SIGTERM'));
process.once('SIGINT', () => void stop('SIGINT'));
process.on('unhandledRejection', (reason) => {
  logger.fatal({ err: reason }, 'unhandled promise rejection');
  process.exit(1);
});

try {
  await deps.queue.start();
  await deps.queue.work(deps);
} catch (error) {
  logger.fatal({ err: error }, 'could not start working');
  process.exit(1);
}
logger.info({ concurrency: config.WORKER_CONCURRENCY, perQueue: config.WORKER_QUEUE_CONCURRENCY, version: deps.version }, 'working');
