// drizzle-kit configuration; the dialect comes from DRIZZLE_DIALECT, else from DATABASE_URL (SQLite when unset).
import { defineConfig } from 'drizzle-kit';

const url = process.env.DATABASE_URL ?? 'file:./data/app.db';
const dialect = process.env.DRIZZLE_DIALECT ?? (url.startsWith('postgres') ? 'postgresql' : 'sqlite');
if (dialect !== 'sqlite' && dialect !== 'postgresql') {
  throw new Error(`DRIZZLE_DIALECT must be sqlite or postgresql, got "${dialect}"`);
}
const folder = dialect === 'sqlite' ? 'sqlite' : 'pg';

export default defineConfig({
  dialect,
  schema: `./db/schema/${folder}.ts`,
  // DRIZZLE_OUT lets the drift check generate into a scratch copy instead of the committed folder.
  out: process.env.DRIZZLE_OUT ?? `./db/migrations/${folder}`,
  dbCredentials: { url: dialect === 'sqlite' ? url.replace(/^file:/, '') : url },
  strict: true,
  verbose: false,
});
