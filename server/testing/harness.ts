// Test harness: deps on a fresh database, procedure callers without HTTP, and the app on an ephemeral port.
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, inject } from 'vitest';
import type { Database, Dialect } from '../../db/index.ts';
import type { RelayFault } from '../../jobs/outbox.ts';
import type { RegisteredJob } from '../../jobs/define.ts';
import type { QueueBackend } from '../../jobs/queue.ts';
import { loadConfig, type Config } from '../config.ts';
import { assembleDeps, closeDeps, type Clock, type Deps } from '../deps.ts';
import { createApp } from '../http/app.ts';
import type { Lifecycle } from '../http/ops.ts';
import { drain, listen } from '../http/server.ts';
import { createLogger, type Logger } from '../logger.ts';
import { appRouter } from '../routers/index.ts';
import { createInnerContext, type InnerContextOptions } from '../trpc/context.ts';
import { createCallerFactory } from '../trpc/init.ts';
import { fieldErrorsOf, issuesOf } from '../trpc/errors.ts';
import { AppError, type FieldErrors } from '../errors.ts';
import { openTestDatabase, type PostgresVariant } from './database.ts';

export { canVaryPostgres, dialects, postgresKind } from './database.ts';

/**
 * Config as production reads it, from test-friendly variables; override any variable by name. Rate limits
 * are generous (tests register many users from one address) except where a test sets them.
 */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    RATE_LIMIT_GLOBAL_PER_MINUTE: '1000000',
    RATE_LIMIT_LOGIN_PER_MINUTE: '1000000',
    RATE_LIMIT_LOGIN_FAILURES_PER_MINUTE: '1000000',
    RATE_LIMIT_REGISTER_PER_MINUTE: '1000000',
    RATE_LIMIT_PASSWORD_RESET_PER_MINUTE: '1000000',
    RATE_LIMIT_PASSWORD_RESET_PER_EMAIL_PER_HOUR: '1000000',
    RATE_LIMIT_PASSWORD_CHECKS_PER_MINUTE: '1000000',
    DATABASE_POOL_MAX: '4',
    QUEUE_POLLING_INTERVAL_SECONDS: '0.5',
    // The test process's event loop lags because of the tests (PGlite compiling, other files): shedding tests turn it on.
    OVERLOAD_EVENT_LOOP_DELAY_MS: '0',
    OUTBOX_DIR: join(tmpdir(), `abs-outbox-${process.pid}`),
    ...env,
  });
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

export type TestDepsOptions = {
  env?: Record<string, string>;
  logger?: Logger;
  clock?: Clock;
  worker?: boolean;
  postgres?: PostgresVariant;
  /** Where the jobs live, instead of the production topology for the dialect (see testQueueBackend). */
  queueBackend?: QueueBackend;
  /** A fault between a commit and the job outbox's send (jobs/outbox.ts). */
  relayFault?: RelayFault;
  /** Jobs instead of jobs/registry.ts's (tests that need a job of their own add it to registeredJobs). */
  definitions?: readonly RegisteredJob[];
};

/**
 * The production topologies: on Postgres the jobs share the app's database (and its transactions); beside
 * SQLite they run on an in-memory PGlite, as the embedded default does on disk. Started on first use.
 */
function testQueueBackend(db: Database): QueueBackend {
  if (db.source.kind === 'postgres') return { kind: 'postgres', url: db.source.url };
  if (db.source.kind === 'pglite') return { kind: 'pglite', dataDir: null, client: db.source.client };
  return { kind: 'pglite', dataDir: null, template: pgliteQueueTemplate() };
}

let queueTemplate: Blob | undefined;
/** The global setup's embedded queue dump, read once per test process. */
function pgliteQueueTemplate(): Blob {
  return (queueTemplate ??= new Blob([readFileSync(inject('pgliteQueueTemplate'))]));
}

export async function createTestDeps(dialect: Dialect, options: TestDepsOptions = {}): Promise<Deps> {
  const config = testConfig(options.env);
  const db = await openTestDatabase(dialect, { postgres: options.postgres });
  const logger = options.logger ?? createLogger({ level: config.LOG_LEVEL });
  const deps = await assembleDeps({ config, logger, db, clock: options.clock, worker: options.worker ?? false, queueBackend: options.queueBackend ?? testQueueBackend(db), relayFault: options.relayFault, definitions: options.definitions });
  // As an API process does once it listens: reads are cached from the first (see CachePeers).
  await deps.cache.start();
  return deps;
}

export type UseTestDepsOptions = Omit<TestDepsOptions, 'env'> & {
  /** Variables, or a function giving them when the block starts (for values known only then, like a port). */
  env?: Record<string, string> | (() => Record<string, string>);
  /** Also work the job queues in this process (implies `worker`). */
  work?: boolean;
};

/**
 * Deps for one describe block: opened before its tests, closed after. Read `.current` inside tests.
 * Usage: `describe.each(dialects)('%s', (dialect) => { const deps = useTestDeps(dialect); ... })`.
 */
export function useTestDeps(dialect: Dialect, options: UseTestDepsOptions = {}): { current: Deps } {
  const holder = { current: undefined as unknown as Deps };
  beforeAll(async () => {
    const env = typeof options.env === 'function' ? options.env() : options.env;
    holder.current = await createTestDeps(dialect, { ...options, env, worker: options.worker ?? options.work });
    if (options.work) await holder.current.queue.work(holder.current);
  });
  afterAll(async () => {
    if (holder.current) await closeDeps(holder.current);
  });
  return holder;
}

const createCaller = createCallerFactory(appRouter);

/** Calls procedures directly; each call is a request of its own with these client details. */
export function callerFor(deps: Deps, options: InnerContextOptions = {}) {
  return createCaller(() => createInnerContext(deps, options));
}

export type TestServer = { url: string; lifecycle: Lifecycle; close(): Promise<void> };

/** The full express app on 127.0.0.1 and an ephemeral port. */
export async function startTestServer(deps: Deps): Promise<TestServer> {
  const lifecycle: Lifecycle = { shuttingDown: false };
  const { server, url } = await listen(createApp(deps, lifecycle), '127.0.0.1', 0);
  return { url, lifecycle, close: async () => void (await drain(server, 1000)) };
}

/** Deps and the app on an ephemeral port for one describe block; read the fields inside tests. */
export function useTestServer(dialect: Dialect, options: UseTestDepsOptions = {}): { deps: Deps; server: TestServer; url: string } {
  const holder = { deps: undefined as unknown as Deps, server: undefined as unknown as TestServer, url: '' };
  beforeAll(async () => {
    const env = typeof options.env === 'function' ? options.env() : options.env;
    holder.deps = await createTestDeps(dialect, { ...options, env, worker: options.worker ?? options.work });
    if (options.work) await holder.deps.queue.work(holder.deps);
    holder.server = await startTestServer(holder.deps);
    holder.url = holder.server.url;
  });
  afterAll(async () => {
    await holder.server?.close();
    if (holder.deps) await closeDeps(holder.deps);
  });
  return holder;
}

export type Failure = { code: TRPCError['code']; message: string; fieldErrors: FieldErrors };

/** Awaits a call that must fail with a TRPCError, and returns what a client would see of it. */
export async function failure(call: Promise<unknown>): Promise<Failure> {
  const error = await call.then(
    () => new Error('expected the call to fail, but it succeeded'),
    (err: unknown) => err,
  );
  if (!(error instanceof TRPCError)) throw error;
  const issues = issuesOf(error.cause);
  const fieldErrors = issues ? fieldErrorsOf(issues) : error.cause instanceof AppError ? (error.cause.fieldErrors ?? {}) : {};
  return { code: error.code, message: error.message, fieldErrors };
}
