// How a database plans a statement that ran: for tests that check which index a service's statement reads.
import { sql, type SQL } from 'drizzle-orm';
import type { SqliteRemoteDatabase } from 'drizzle-orm/sqlite-proxy';
import type { Database } from '../../db/index.ts';

/** The statement as it ran: its text with its parameters bound again (`?` on SQLite, `$n` on Postgres). */
export function bound(text: string, params: unknown[]): SQL {
  let next = 0;
  return sql.join(
    text.split(/(\?|\$\d+)/).map((part) => {
      if (part === '?') return sql`${params[next++]}`;
      if (/^\$\d+$/.test(part)) return sql`${params[Number(part.slice(1)) - 1]}`;
      return sql.raw(part);
    }),
  );
}

/**
 * The plan of a statement `db.onQuery` saw, one line per step: SQLite's `explain query plan`, Postgres' `explain`
 * (which plans a write without running it).
 */
export async function planOf(db: Database, text: string, params: unknown[]): Promise<string> {
  const statement = bound(text, params);
  if (db.dialect === 'sqlite') {
    const rows = await (db.orm as unknown as SqliteRemoteDatabase).values<[number, number, number, string]>(sql`explain query plan ${statement}`);
    return rows.map((row) => row[3]).join('\n');
  }
  const result = await db.orm.execute<{ 'QUERY PLAN': string }>(sql`explain ${statement}`);
  return result.rows.map((row) => row['QUERY PLAN']).join('\n');
}
