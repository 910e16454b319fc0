// npm run restore -- --from DIR: puts back a backup that `npm run backup` wrote. Refuses while a server (or a
// backup) has the data directory; what is there now moves to data/pre-restore-<time>, never deleted.
import { parseArgs } from 'node:util';
import { BackupError, embeddedPaths, restoreBackup } from '../server/backup.ts';
import { ConfigError, loadConfig, readDotEnv } from '../server/config.ts';
import { claimDataDir, DataDirBusyError } from '../server/control-socket.ts';

function fail(message: string, code = 1): never {
  console.error(`restore: ${message}`);
  process.exit(code);
}

const { values } = parseArgs({ options: { from: { type: 'string' } }, strict: true });
if (!values.from) fail('pass --from DIR (a directory npm run backup wrote)');
let config;
try {
  config = loadConfig(readDotEnv());
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  throw error;
}
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
