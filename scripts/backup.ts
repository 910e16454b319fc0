// npm run backup -- --out DIR: a consistent copy of the embedded default's data (the SQLite file and the PGlite
// job queue) while the server keeps serving. A running server takes the copy itself (asked over its control
// socket); with none running, this process takes the directory and copies it. On Postgres: pg_dump.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BackupError, embeddedPaths, writeBackup, type BackupManifest } from '../server/backup.ts';
import { askHolder, claimDataDir, DataDirBusyError } from '../server/control-socket.ts';
import { version } from '../server/deps.ts';
import { commandConfig, failer, type Fail } from './cli.ts';

// Typed here, not inferred: TypeScript narrows after a call only through a declared `never` signature.
const fail: Fail = failer('backup');

const { values } = parseArgs({ options: { out: { type: 'string' } }, strict: true });
if (!values.out) fail('pass --out DIR (a new or empty directory)');
const config = commandConfig(fail);
const paths = embeddedPaths(config);
if (!paths) fail('the app’s data is on Postgres (or in memory): back it up with pg_dump or the platform’s snapshots (docs/operations.md, "Backups")', 2);

if (!existsSync(paths.sqlitePath)) fail(`there is no data to back up at ${paths.sqlitePath}`);

const print = (manifest: BackupManifest, by: string) => {
  const queue = manifest.queue ? `, job queue ${manifest.queue.bytes} bytes` : ', no job queue (jobs on Postgres)';
  console.log(`backup: ${values.out} as of ${manifest.createdAt} (taken by ${by}): app data ${manifest.app.bytes} bytes${queue}`);
};

try {
  const answer = await askHolder(paths.dataDir, { command: 'backup', out: values.out });
  if (answer) {
    if (!answer.ok) fail(`${answer.holder} (pid ${answer.pid}) could not take the backup: ${answer.error}`);
    if (!answer.manifest) fail(`${answer.holder} (pid ${answer.pid}) gave no manifest`);
    print(answer.manifest, `${answer.holder}, pid ${answer.pid}`);
    process.exit(0);
  }
  // No server: hold the directory so none starts meanwhile, and copy the files with nothing else writing.
  const claim = await claimDataDir(paths.dataDir, 'npm run backup');
  try {
    const queueDir = paths.queueDir;
    const manifest = await writeBackup(
      {
        sqlitePath: paths.sqlitePath,
        freeze: (fn) => fn(),
        version,
        queueSnapshot: async () => {
          if (!queueDir || !existsSync(queueDir)) return null;
          const { PGlite } = await import('@electric-sql/pglite');
          const client = await PGlite.create(queueDir);
          try {
            return await client.dumpDataDir('gzip');
          } finally {
            await client.close();
          }
        },
      },
      values.out,
    );
    print(manifest, 'this process; no server was running');
  } finally {
    await claim?.release();
  }
} catch (error) {
  if (error instanceof BackupError || error instanceof DataDirBusyError) fail(error.message);
  throw error;
}
