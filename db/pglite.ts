// PGlite (Postgres in WASM) as a stand-in Postgres for tests and tools when no server is configured.
import type { PGlite } from '@electric-sql/pglite';
import type { PgliteDatabase } from 'drizzle-orm/pglite';
import type { Logger as DrizzleLogger } from 'drizzle-orm';
import * as pgSchema from './schema/pg.ts';

export type PgliteHandle = {
  client: PGlite;
  orm: PgliteDatabase<typeof pgSchema>;
  migrate(folder: string): Promise<void>;
  close(): Promise<void>;
};

/**
 * Postgres settings for every PGlite of ours, after PGlite's own start parameters. Postgres writes over all of
 * shared_buffers when it starts, so its default of 128 MB is resident from the first moment; a job queue (and a
 * test database) works on a few megabytes of hot pages, and 16 MB leaves that room many times over.
 */
export const PGLITE_SETTINGS: readonly string[] = ['-c', 'shared_buffers=16MB'];

/** An in-memory PGlite unless a data directory is given. */
export async function openPglite(logger: DrizzleLogger, dataDir?: string): Promise<PgliteHandle> {
  // Imported lazily: production processes that use a real Postgres never load the WASM build.
  const [{ PGlite }, { pg_trgm }, { drizzle }, { migrate }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('@electric-sql/pglite/contrib/pg_trgm'),
    import('drizzle-orm/pglite'),
    import('drizzle-orm/pglite/migrator'),
  ]);
  // The migrations create pg_trgm (posts search), which PGlite ships as a loadable extension.
  const client = await PGlite.create({ dataDir, extensions: { pg_trgm }, startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS] });
  const orm = drizzle(client, { schema: pgSchema, logger });
  return {
    client,
    orm,
    migrate: (folder) => migrate(orm, { migrationsFolder: folder }),
    close: () => client.close(),
  };
}
