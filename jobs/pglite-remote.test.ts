// The embedded queue's PGlite on its own thread: what pg-boss's adapter (fromPglite) and the queue's snapshot use
// of it must behave as PGlite itself does, errors with their Postgres fields included.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PGLITE_SETTINGS } from '../db/index.ts';
import { openPgliteThread, type RemotePglite } from './pglite-remote.ts';

describe('PGlite on a worker thread', () => {
  let db: RemotePglite;
  beforeAll(async () => {
    db = await openPgliteThread({ dataDir: null, settings: PGLITE_SETTINGS });
  });
  afterAll(async () => {
    await db?.close();
  });

  it('runs parameterized queries and multi-statement blocks, with their values typed as PGlite types them', async () => {
    const { rows } = await db.query<{ n: number; at: Date; doc: unknown }>(`select $1::int + 1 as n, timestamptz '2026-01-02T03:04:05Z' as at, $2::jsonb as doc`, [41, JSON.stringify({ a: [1] })]);
    expect(rows).toEqual([{ n: 42, at: new Date('2026-01-02T03:04:05Z'), doc: { a: [1] } }]);
    const results = await db.exec('create table t (id int primary key); begin; insert into t values (1) returning id; commit;');
    expect(results.flatMap((result) => result.rows)).toEqual([{ id: 1 }]);
  });

  it('rejects with the Postgres error, its code and detail kept, and goes on serving', async () => {
    const failure = await db.query('insert into t values (1)').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect(failure).toMatchObject({ code: '23505', constraint: 't_pkey' });
    expect((failure as Error).message).toContain('duplicate key');
    expect((await db.query('select count(*)::int as n from t')).rows).toEqual([{ n: 1 }]);
  });

  it('delivers notifications to listeners until they unlisten', async () => {
    const heard: string[] = [];
    const unlisten = await db.listen('news', (payload) => heard.push(payload));
    await db.query(`select pg_notify('news', 'first')`);
    const deadline = Date.now() + 10_000;
    while (heard.length === 0 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    expect(heard).toEqual(['first']);
    await unlisten();
    await db.query(`select pg_notify('news', 'second')`);
    await db.query('select 1');
    expect(heard).toEqual(['first']);
  });

  it('dumps its data directory as a gzipped tar', async () => {
    const dump = await db.dumpDataDir('gzip');
    const bytes = new Uint8Array(await dump.arrayBuffer());
    expect(bytes.length).toBeGreaterThan(1000);
    expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]);
  });
});

describe('PGlite on a worker thread, closed', () => {
  it('refuses calls once closed', async () => {
    const db = await openPgliteThread({ dataDir: null, settings: PGLITE_SETTINGS });
    await db.close();
    await expect(db.query('select 1')).rejects.toThrow(/exited/);
  });
});
