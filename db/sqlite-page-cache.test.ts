// SQLite's page cache while migrations run: raised for their transaction (an index filled from a large table would
// read back what it merges a page at a time), then set back to the connection's own size.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqlite } from './sqlite.ts';

const scratch = mkdtempSync(join(tmpdir(), 'abs-page-cache-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('SQLite migrations', () => {
  it('leave the connection at its own page cache size, having applied every migration', async () => {
    const sqlite = openSqlite(join(scratch, 'app.db'), { logQuery: () => {} });
    try {
      expect(sqlite.raw.pragma('cache_size', { simple: true })).toBe(-65536);
      await sqlite.migrate(join(import.meta.dirname, 'migrations', 'sqlite'));
      expect(sqlite.raw.prepare("select count(*) as n from sqlite_master where name in ('posts_fts', 'users_fts')").get()).toEqual({ n: 2 });
      expect(sqlite.raw.pragma('cache_size', { simple: true })).toBe(-65536);
    } finally {
      sqlite.raw.close();
    }
  });
});
