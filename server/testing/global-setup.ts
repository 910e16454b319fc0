// vitest global setup: with TEST_DATABASE_URL, migrates one template database that each test file clones; and
// makes one embedded job queue (PGlite with pg-boss's schema and our queues) that each SQLite test's queue starts from.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import pg from 'pg';
import { openDatabase } from '../../db/index.ts';
import { openQueue } from '../../jobs/queue.ts';
import { loadConfig } from '../config.ts';
import { createLogger } from '../logger.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Name of the migrated template database on TEST_DATABASE_URL's server; '' when tests use PGlite. */
    pgTemplate: string;
    /** A dump of an embedded queue database, created and started once, that in-memory test queues load. */
    pgliteQueueTemplate: string;
  }
}

/** Names this run's databases: abs_tpl_<pid>_<time> and its clones abs_t_<pid>_<time>_<worker>_<n>. */
export const runTag = `${process.pid.toString(36)}_${Date.now().toString(36)}`;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Drops databases left by earlier runs on this machine whose vitest process is gone (killed, crashed). */
async function dropAbandoned(admin: pg.Client): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>("select datname from pg_database where datname ~ '^abs_(tpl|t)_[0-9a-z]+_'");
  for (const { datname } of rows) {
    const pid = Number.parseInt(datname.split('_')[2], 36);
    if (!isAlive(pid)) await admin.query(`drop database if exists ${datname} with (force)`);
  }
}

export function databaseUrlFor(baseUrl: string, database: string): string {
  const url = new URL(baseUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/**
 * Creating an in-memory PGlite and installing pg-boss in it takes seconds (tens on a loaded machine) in every
 * test file that works jobs beside SQLite; loading a dump of one made here takes a fraction of that.
 */
async function makePgliteQueueTemplate(dir: string): Promise<string> {
  const db = await openDatabase({ url: ':memory:' });
  const queue = openQueue({ config: loadConfig({ NODE_ENV: 'test', OUTBOX_DIR: join(dir, 'outbox') }), logger: createLogger({ level: 'silent' }), db, worker: false, backend: { kind: 'pglite', dataDir: null } });
  try {
    await queue.start();
    const dump = await queue.snapshot();
    if (!dump) throw new Error('the embedded queue gave no snapshot');
    const file = join(dir, 'pglite-queue.tar.gz');
    writeFileSync(file, Buffer.from(await dump.arrayBuffer()));
    return file;
  } finally {
    await queue.stop(1000);
    await db.close();
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), 'abs-test-'));
  project.provide('pgliteQueueTemplate', await makePgliteQueueTemplate(dir));
  const removeDir = async () => rmSync(dir, { recursive: true, force: true });
  const baseUrl = process.env.TEST_DATABASE_URL;
  if (!baseUrl) {
    project.provide('pgTemplate', '');
    return removeDir;
  }
  const template = `abs_tpl_${runTag}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await dropAbandoned(admin);
  await admin.query(`create database ${template}`);
  const url = databaseUrlFor(baseUrl, template);
  const db = await openDatabase({ url, poolMax: 2, startupTimeoutMs: 5000 });
  await db.migrate();
  // pg-boss's schema and queues too, so clones start their queue without installing it.
  const queue = openQueue({ config: loadConfig({ DATABASE_URL: url }), logger: createLogger({ level: 'silent' }), db, worker: false });
  await queue.start();
  await queue.stop(1000);
  await db.close();
  project.provide('pgTemplate', template);

  return async () => {
    // Clones left behind by a crashed worker are dropped along with the template.
    const { rows } = await admin.query<{ datname: string }>('select datname from pg_database where datname like $1', [`abs_t_${runTag}_%`]);
    for (const { datname } of rows) await admin.query(`drop database if exists ${datname} with (force)`);
    await admin.query(`drop database if exists ${template} with (force)`);
    await admin.end();
    await removeDir();
  };
}
