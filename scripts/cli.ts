// What the one-off commands (create-admin, backup, restore) share: one-line failures named after the command,
// and the configuration read as the server reads it.
import { ConfigError, loadConfig, readDotEnv, type Config } from '../server/config.ts';

export type Fail = (message: string, code?: number) => never;

/** Prints `<command>: <message>` on stderr and exits with `code`. */
export function failer(command: string): Fail {
  return (message, code = 1) => {
    console.error(`${command}: ${message}`);
    process.exit(code);
  };
}

/** The environment (and .env) as the server reads it; a bad variable ends the command with its name. */
export function commandConfig(fail: (message: string) => never): Config {
  try {
    return loadConfig(readDotEnv());
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
}
