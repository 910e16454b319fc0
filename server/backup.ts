// Backups of the embedded default: the SQLite file and the PGlite job queue, copied as of one instant while the
// server keeps serving, and put back by `npm run restore` while no server has them open.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { queueBackendFor } from '../jobs/queue.ts';
import type { Config } from './config.ts';

export const BACKUP_FORMAT = 1;
const APP_FILE = 'app.db';
const QUEUE_FILE = 'queue.tar.gz';
const MANIFEST_FILE = 'manifest.json';

const manifestSchema = z.object({
  format: z.literal(BACKUP_FORMAT),
  createdAt: z.iso.datetime(),
  version: z.string(),
  app: z.object({ file: z.literal(APP_FILE), bytes: z.number().int().nonnegative() }),
  queue: z.object({ file: z.literal(QUEUE_FILE), bytes: z.number().int().nonnegative() }).nullable(),
});
export type BackupManifest = z.infer<typeof manifestSchema>;

/** A backup or restore that cannot go ahead, with a message for the operator (no stack trace needed). */
export class BackupError extends Error {
  override name = 'BackupError';
}

export type EmbeddedPaths = { sqlitePath: string; dataDir: string; queueDir: string | null };

/**
 * Where the embedded default keeps its data (the SQLite file, its directory, the PGlite queue's directory), or
 * null when the app's data is not in a SQLite file (Postgres, or SQLite in memory).
 */
export function embeddedPaths(config: Pick<Config, 'DATABASE_URL' | 'QUEUE_DATABASE_URL'>): EmbeddedPaths | null {
  const url = config.DATABASE_URL;
  if (url.startsWith('postgres') || url === ':memory:') return null;
  const sqlitePath = resolve(url.replace(/^file:/, ''));
  const queue = queueBackendFor(config);
  return { sqlitePath, dataDir: dirname(sqlitePath), queueDir: queue.kind === 'pglite' && queue.dataDir ? resolve(queue.dataDir) : null };
}

export type BackupSources = {
  /** The SQLite file the app's data lives in. */
  sqlitePath: string;
  /**
   * Runs `fn` while no app statement runs or commits: in the server, an app transaction (on SQLite every other
   * statement waits for it); in a script that has the files to itself, just `fn`.
   */
  freeze: <T>(fn: () => Promise<T>) => Promise<T>;
  /** The job queue's snapshot (Queue.snapshot), or null when the jobs are not in an embedded PGlite. */
  queueSnapshot: () => Promise<Blob | null>;
  version: string;
};

/**
 * Writes `app.db`, `queue.tar.gz` and, last, `manifest.json` into `outDir` (new or empty). Both copies are of
 * one instant: a read transaction on a second SQLite connection pins the app's data while no app statement
 * runs, and the queue is dumped before that pause ends; the pinned snapshot is then copied with SQLite's
 * online backup while writes go on. A job the outbox had already handed to the queue may be in both copies:
 * the relay skips a job id the queue already has.
 */
export async function writeBackup(sources: BackupSources, outDir: string): Promise<BackupManifest> {
  const out = resolve(outDir);
  if (existsSync(out) && (await readdir(out)).length > 0) throw new BackupError(`${out} is not empty: give a new or empty directory`);
  await mkdir(out, { recursive: true });
  const { default: BetterSqlite3 } = await import('better-sqlite3');
  const pinned = new BetterSqlite3(sources.sqlitePath, { readonly: true, fileMustExist: true });
  try {
    const createdAt = new Date();
    const queue = await sources.freeze(async () => {
      pinned.exec('begin');
      // A read transaction in WAL mode takes its snapshot at its first read.
      pinned.prepare('select count(*) from sqlite_master').get();
      return sources.queueSnapshot();
    });
    await pinned.backup(join(out, APP_FILE));
    pinned.exec('commit');
    let queueEntry: BackupManifest['queue'] = null;
    if (queue) {
      const bytes = new Uint8Array(await queue.arrayBuffer());
      await writeFile(join(out, QUEUE_FILE), bytes);
      queueEntry = { file: QUEUE_FILE, bytes: bytes.byteLength };
    }
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT,
      createdAt: createdAt.toISOString(),
      version: sources.version,
      app: { file: APP_FILE, bytes: (await stat(join(out, APP_FILE))).size },
      queue: queueEntry,
    };
    // Written last: a directory without it is an interrupted backup, and restore refuses it.
    await writeFile(join(out, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    return manifest;
  } finally {
    pinned.close();
  }
}

export async function readManifest(fromDir: string): Promise<BackupManifest> {
  const file = join(resolve(fromDir), MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new BackupError(`${file} is missing: not a backup, or one that did not finish`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BackupError(`${file} is not valid JSON`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) throw new BackupError(`${file} is not a backup manifest this version can restore (format ${BACKUP_FORMAT})`);
  return parsed.data;
}

export type RestoreTargets = {
  sqlitePath: string;
  /** The PGlite data directory of the job queue; null when the jobs live on a Postgres server. */
  queueDir: string | null;
};

export type RestoreResult = { manifest: BackupManifest; previous: string | null; queueJobs: number | null };

/**
 * Puts a backup back. What is there now (the SQLite file with its -wal and -shm, the queue directory) moves into
 * `pre-restore-<time>` beside it, never deleted; then the copies go in place. The caller holds the data
 * directory (no server may have it open).
 */
export async function restoreBackup(fromDir: string, targets: RestoreTargets): Promise<RestoreResult> {
  const from = resolve(fromDir);
  const manifest = await readManifest(from);
  if (manifest.queue && !targets.queueDir) throw new BackupError('the backup holds a job queue, but this configuration keeps jobs on a Postgres server');
  const appCopy = join(from, manifest.app.file);
  if ((await stat(appCopy).catch(() => null))?.size !== manifest.app.bytes) throw new BackupError(`${appCopy} is missing or not the size the manifest says`);
  const queueBytes = manifest.queue ? await readFile(join(from, manifest.queue.file)).catch(() => null) : null;
  if (manifest.queue && queueBytes?.byteLength !== manifest.queue.bytes) throw new BackupError(`${join(from, QUEUE_FILE)} is missing or not the size the manifest says`);

  const sqlitePath = resolve(targets.sqlitePath);
  const dataDir = dirname(sqlitePath);
  await mkdir(dataDir, { recursive: true });
  const current = [sqlitePath, `${sqlitePath}-wal`, `${sqlitePath}-shm`, ...(targets.queueDir && manifest.queue ? [resolve(targets.queueDir)] : [])].filter((path) => existsSync(path));
  let previous: string | null = null;
  if (current.length > 0) {
    previous = join(dataDir, `pre-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    await mkdir(previous);
    for (const path of current) await rename(path, join(previous, basename(path)));
  }

  // Copied beside the target and renamed into place, so the file is never seen half-written.
  const staging = `${sqlitePath}.restore-${randomUUID()}`;
  await writeFile(staging, await readFile(appCopy));
  await rename(staging, sqlitePath);

  let queueJobs: number | null = null;
  if (manifest.queue && targets.queueDir && queueBytes) {
    const queueDir = resolve(targets.queueDir);
    await rm(queueDir, { recursive: true, force: true });
    await mkdir(queueDir, { recursive: true });
    const { PGlite } = await import('@electric-sql/pglite');
    const client = await PGlite.create({ dataDir: queueDir, loadDataDir: new Blob([queueBytes]) });
    try {
      const { rows } = await client.query<{ jobs: number }>('select count(*)::int as jobs from pgboss.job');
      queueJobs = rows[0]?.jobs ?? 0;
    } finally {
      await client.close();
    }
  }
  return { manifest, previous, queueJobs };
}
