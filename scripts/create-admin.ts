// npm run create-admin -- --username NAME --email EMAIL: creates an admin, or promotes (and reactivates) an
// existing account with that username or e-mail. The password of a new admin comes from ADMIN_PASSWORD or a
// prompt that does not echo.
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline/promises';
import { z } from 'zod';
import { DatabaseUnavailableError } from '../db/index.ts';
import { buildDeps, closeDeps } from '../server/deps.ts';
import { AppError } from '../server/errors.ts';
import { createLogger } from '../server/logger.ts';
import { Email, Password, Username } from '../server/schemas.ts';
import { createOrPromoteAdmin } from '../server/services/users.ts';
import { commandConfig, failer, type Fail } from './cli.ts';

// Typed here, not inferred: TypeScript narrows after a call only through a declared `never` signature.
const fail: Fail = failer('create-admin');

async function promptPassword(): Promise<string> {
  if (!process.stdin.isTTY) fail('set ADMIN_PASSWORD, or run in a terminal to be asked for the password');
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  // Hide what is typed: write nothing back for the characters of the answer.
  const output = rl as unknown as { _writeToOutput: (text: string) => void; output: NodeJS.WritableStream };
  let muted = false;
  output._writeToOutput = (text) => {
    if (!muted) output.output.write(text);
  };
  const question = rl.question('Password for the new admin: ');
  muted = true;
  const password = await question;
  muted = false;
  process.stdout.write('\n');
  rl.close();
  return password;
}

const { values } = parseArgs({ options: { username: { type: 'string' }, email: { type: 'string' } }, strict: true });
const args = z.object({ username: Username, email: Email }).safeParse(values);
if (!args.success) fail(args.error.issues.map((issue) => `--${issue.path.join('.')}: ${issue.message}`).join('; '));

const config = commandConfig(fail);
const logger = createLogger({ level: 'warn' });
const deps = await buildDeps(config, logger).catch((error: unknown) => {
  if (error instanceof DatabaseUnavailableError) fail(error.message);
  throw error;
});

try {
  const { user, created } = await createOrPromoteAdmin(deps, args.data, async () => {
    const password = Password.safeParse(process.env.ADMIN_PASSWORD ?? (await promptPassword()));
    if (!password.success) fail(`password ${password.error.issues[0].message}`);
    return password.data;
  });
  console.log(created ? `created admin ${user.username} (${user.email})` : `promoted ${user.username} to admin`);
} catch (error) {
  if (error instanceof AppError) fail(error.message);
  throw error;
} finally {
  await closeDeps(deps);
}
