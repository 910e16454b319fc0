// npm run db:migrate: applies the committed migrations to DATABASE_URL (and .env), then exits.
import { DatabaseUnavailableError, describePostgresUrl, openDatabase } from '../db/index.ts';
import { ConfigError, loadConfig, readDotEnv } from '../server/config.ts';

try {
  const config = loadConfig(readDotEnv());
  const db = await openDatabase({ url: config.DATABASE_URL, startupTimeoutMs: config.DATABASE_STARTUP_TIMEOUT_MS, poolMax: 2 });
  try {
    const pending = await db.pendingMigrations();
    await db.migrate();
    const where = db.dialect === 'postgres' ? describePostgresUrl(config.DATABASE_URL) : config.DATABASE_URL;
    console.log(`${where}: applied ${pending} migration(s); the database is current`);
  } finally {
    await db.close();
  }
} catch (error) {
  if (error instanceof ConfigError || error instanceof DatabaseUnavailableError) {
    console.error(`db:migrate: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
