// The session settings every Postgres connection starts with, merged with what DATABASE_URL's own options say;
// and the pool's transactions when the connection drops.
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { startTcpProxy } from '../server/testing/tcp-proxy.ts';
import { openDatabase } from './index.ts';
import { sessionOptions } from './postgres-settings.ts';

describe('sessionOptions', () => {
  it('sets DateStyle, TimeZone, client_encoding and IntervalStyle', () => {
    expect(sessionOptions('postgres://db/app')).toBe('-c DateStyle=ISO,MDY -c TimeZone=UTC -c client_encoding=UTF8 -c IntervalStyle=postgres');
  });

  it("keeps the URL's own options first, so ours win where both set one", () => {
    const url = `postgres://db/app?options=${encodeURIComponent('-c search_path=app -c TimeZone=Europe/Paris')}`;
    expect(sessionOptions(url)).toBe('-c search_path=app -c TimeZone=Europe/Paris -c DateStyle=ISO,MDY -c TimeZone=UTC -c client_encoding=UTF8 -c IntervalStyle=postgres');
  });
});

describe.skipIf(!process.env.TEST_DATABASE_URL)('a Postgres transaction whose connection drops before BEGIN is answered (TEST_DATABASE_URL)', () => {
  it('gives its connection back: a pool of one serves the next transaction, and closes', async () => {
    const direct = new URL(process.env.TEST_DATABASE_URL!);
    const proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    const proxied = new URL(direct);
    proxied.host = `127.0.0.1:${proxy.port}`;
    const db = await openDatabase({ url: proxied.toString(), poolMax: 1, connectionTimeoutMs: 3_000, startupTimeoutMs: 10_000 });
    try {
      // The pool's one connection, idle; then Postgres stops answering and the transaction takes that connection.
      await db.ping();
      proxy.hold();
      const failed = db.transaction(async (tx) => tx.execute(sql`select 1`));
      await expect.poll(() => db.poolStats()?.idle, { interval: 10 }).toBe(0);
      // The connection drops while BEGIN waits for its answer.
      await proxy.cut();
      await expect(failed).rejects.toThrow();
      proxy.release();
      await proxy.resume();
      // Before, the dead client stayed checked out: the pool of one had nothing to give ("timeout exceeded when
      // trying to connect") and closing it never finished.
      expect(await db.transaction(async (tx) => (await tx.execute<{ one: number }>(sql`select 1 as one`)).rows)).toEqual([{ one: 1 }]);
      expect(db.poolStats()).toEqual({ total: 1, idle: 1, waiting: 0 });
    } finally {
      await db.close();
      await proxy.close();
    }
  });
});
