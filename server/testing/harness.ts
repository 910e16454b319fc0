// Test harness: deps on a fresh database, procedure callers without HTTP, and the app on an ephemeral port.
import { Writable } from 'node:stream';
import { afterAll, beforeAll } from 'vitest';
import type { Dialect } from '../../db/index.ts';
import { loadConfig, type Config } from '../config.ts';
import { closeDeps, systemClock, version, type Deps } from '../deps.ts';
import { createApp, type Lifecycle } from '../http/app.ts';
import { drain, listen } from '../http/server.ts';
import { createLogger, type Logger } from '../logger.ts';
import { appRouter } from '../routers/index.ts';
import { createInnerContext, type InnerContextOptions } from '../trpc/context.ts';
import { createCallerFactory } from '../trpc/init.ts';
import { openTestDatabase } from './database.ts';

export { dialects, postgresKind } from './database.ts';

/** Config as production reads it, from test-friendly variables; override any variable by name. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ NODE_ENV: 'test', LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent', ...env });
}

/** A real pino logger whose JSON lines are collected for assertions. */
export function captureLogs(level = 'debug'): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level, destination }), lines };
}

export type TestDepsOptions = { env?: Record<string, string>; logger?: Logger };

export async function createTestDeps(dialect: Dialect, options: TestDepsOptions = {}): Promise<Deps> {
  const config = testConfig(options.env);
  const db = await openTestDatabase(dialect);
  const logger = options.logger ?? createLogger({ level: config.LOG_LEVEL });
  return { config, logger, db, clock: systemClock, version };
}

/**
 * Deps for one describe block: opened before its tests, closed after. Read `.current` inside tests.
 * Usage: `describe.each(dialects)('%s', (dialect) => { const deps = useTestDeps(dialect); ... })`.
 */
export function useTestDeps(dialect: Dialect, options: TestDepsOptions = {}): { current: Deps } {
  const holder = { current: undefined as unknown as Deps };
  beforeAll(async () => {
    holder.current = await createTestDeps(dialect, options);
  });
  afterAll(async () => {
    if (holder.current) await closeDeps(holder.current);
  });
  return holder;
}

const createCaller = createCallerFactory(appRouter);

/** Calls procedures directly, as a request with these client details would. */
export function callerFor(deps: Deps, options: InnerContextOptions = {}) {
  return createCaller(createInnerContext(deps, options));
}

export type TestServer = { url: string; lifecycle: Lifecycle; close(): Promise<void> };

/** The full express app on 127.0.0.1 and an ephemeral port. */
export async function startTestServer(deps: Deps): Promise<TestServer> {
  const lifecycle: Lifecycle = { shuttingDown: false };
  const { server, url } = await listen(createApp(deps, lifecycle), '127.0.0.1', 0);
  return { url, lifecycle, close: async () => void (await drain(server, 1000)) };
}
