// What every long-running process (API, worker) does the same way: read the config or stop with the bad
// variable's name, report a failed start, and shut down along one path with a hard deadline.
import closeWithGrace from 'close-with-grace';
import { DatabaseUnavailableError } from '../db/index.ts';
import { DataDirBusyError } from './control-socket.ts';
import { ConfigError, loadConfig, readDotEnv, type Config } from './config.ts';
import type { Logger } from './logger.ts';
import { flushTracing } from './telemetry/state.ts';

/** The validated config; a bad environment ends the process (exit 1) with each bad variable named. */
export function readConfigOrExit(processName: string): Config {
  try {
    return loadConfig(readDotEnv());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${processName}: ${error.message}\n`);
    process.exit(1);
  }
}

/** Logs why the process could not start and exits 1: never a half-up service. */
export function failedToStart(logger: Logger, error: unknown): never {
  if (error instanceof DatabaseUnavailableError || error instanceof DataDirBusyError) logger.fatal(error.message);
  else logger.fatal({ err: error }, 'could not start');
  process.exit(1);
}

/** Time left after the drain deadline to close pools and flush telemetry before the hard stop. */
const CLOSE_MARGIN_MS = 1_500;

/**
 * Installs the one shutdown path: on SIGTERM or SIGINT (exit 0), or an uncaught error (logged, exit 1), runs
 * `close` and then flushes buffered spans. `close` should honour `drainMs` itself; whatever still runs
 * `drainMs` + 1.5 s after the signal is cut off (exit 1). A second signal exits at once.
 */
export function shutdownOn(logger: Logger, drainMs: number, close: () => Promise<void>): void {
  closeWithGrace(
    {
      delay: drainMs + CLOSE_MARGIN_MS,
      logger: false,
      onTimeout: (delay) => logger.error({ deadlineMs: delay }, 'shutdown did not finish in time; exiting'),
      onSecondSignal: (signal) => logger.warn({ signal }, 'second signal; exiting now'),
      onSecondError: (error) => logger.fatal({ err: error }, 'second uncaught error while shutting down; exiting now'),
    },
    async ({ signal, err }) => {
      if (err) logger.fatal({ err }, 'uncaught error; shutting down');
      else logger.info({ signal, deadlineMs: drainMs }, 'shutting down');
      try {
        await close();
      } catch (error) {
        // close-with-grace exits 1 without a word (its logger is off): say which step failed.
        logger.error({ err: error }, 'shutdown failed; exiting');
        throw error;
      }
      await flushTracing().catch((error: unknown) => logger.warn({ err: error }, 'could not flush traces'));
      logger.info('stopped');
    },
  );
}
