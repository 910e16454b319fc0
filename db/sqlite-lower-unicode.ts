// lower_unicode(text), the SQL function that folds case in every script, on any SQLite connection of ours.
import type BetterSqlite3 from 'better-sqlite3';

/**
 * SQLite's lower() and LIKE fold ASCII only; this folds every script, as Postgres' lower() does. Used in queries
 * only, never in the schema, so other tools can still open the file. Both the app's connection and the search
 * reader's define it: a search tests its candidates with it on either.
 */
export function defineLowerUnicode(db: BetterSqlite3.Database): void {
  db.function('lower_unicode', { deterministic: true }, (text: unknown) => (typeof text === 'string' ? text.toLowerCase() : text));
}
