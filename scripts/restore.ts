// npm run restore -- --from DIR: puts back a backup that `npm run backup` wrote. Refuses while a server (or a
// backup) has the data directory; what is there now moves to data/pre-restore-<time>, never deleted.
import { parseArgs } from 'node:util';
import { BackupError, embeddedPaths, restoreBackup } from '../server/backup.ts';
import { claimDataDir, DataDirBusyError } from '../server/control-socket.ts';
import { commandConfig, failer, type Fail } from './cli.ts';

// Typed here, not inferred: TypeScript narrows after a call only through a declared `never` signature.
const fail: Fail = failer('restore');

const { values } = parseArgs({ options: { from: { type: 'string' } }, strict: true });
if (!values.from) fail('pass --from DIR (a directory npm run backup wrote)');
const config = commandConfig(fail);
const paths = embeddedPaths(config);
if (!paths) fail('the app’s data is on Postgres (or in memory): restore it with pg_restore or the platform’s snapshots (docs/operations.md, "Backups")', 2);

try {
  const claim = await claimDataDir(paths.dataDir, 'npm run restore');
  try {
    const { manifest, previous, queueJobs } = await restoreBackup(values.from, paths);
    const queue = queueJobs === null ? '' : `, job queue with ${queueJobs} jobs`;
    console.log(`restore: ${paths.sqlitePath} as of ${manifest.createdAt}${queue}${previous ? `; what was there is in ${previous}` : ''}`);
  } finally {
    await claim?.release();
  }
} catch (error) {
  if (error instanceof BackupError || error instanceof DataDirBusyError) fail(error.message);
  throw error;
}
