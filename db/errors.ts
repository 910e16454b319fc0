// Recognizes unique-constraint violations from either driver and names the field they concern.
import { getTableName, is, Table } from 'drizzle-orm';
import * as pgSchema from './schema/pg.ts';

export type UniqueViolation = { table: string | undefined; field: string | undefined };

const tableNames = (Object.values(pgSchema) as unknown[])
  .filter((value): value is Table => is(value, Table))
  .map((table) => getTableName(table))
  .sort((a, b) => b.length - a.length);

const camel = (snake: string) => snake.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());

/** Unique indexes are named `<table>_<column>_unique` (see db/schema), which is how a violation finds its field. */
function fromIndexName(name: string): UniqueViolation {
  const table = tableNames.find((candidate) => name.startsWith(`${candidate}_`));
  const column = table && name.endsWith('_unique') ? name.slice(table.length + 1, -'_unique'.length) : undefined;
  return { table, field: column ? camel(column) : undefined };
}

type DriverError = { code?: unknown; constraint?: unknown; message?: unknown; cause?: unknown };

/** Walks an error's cause chain (drizzle wraps driver errors) for a unique violation from pg, PGlite or SQLite. */
export function findUniqueViolation(error: unknown): UniqueViolation | null {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    const err = current as DriverError;
    if (err.code === '23505') {
      return typeof err.constraint === 'string' ? fromIndexName(err.constraint) : { table: undefined, field: undefined };
    }
    if (err.code === 'SQLITE_CONSTRAINT_UNIQUE' || err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
      const message = typeof err.message === 'string' ? err.message : '';
      const index = /index '([^']+)'/.exec(message);
      if (index) return fromIndexName(index[1]);
      // "UNIQUE constraint failed: users.email" (a plain column constraint, or an index on one column). A
      // `<field>_key` column holds <field> as compared (users.username_key): the violation is <field>'s.
      const column = /failed: (\w+)\.(\w+)/.exec(message);
      return column ? { table: column[1], field: camel(column[2].replace(/_key$/, '')) } : { table: undefined, field: undefined };
    }
    current = err.cause;
  }
  return null;
}

/** Socket errors of a connection that could not be made or was lost. */
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);
/**
 * SQLSTATEs that say the server cannot serve now, whatever the statement: class 08 (connection exception),
 * admin/crash shutdown, starting up, too many connections. Plus SQLite's busy/locked after busy_timeout.
 */
const UNAVAILABLE_CODES = new Set(['57P01', '57P02', '57P03', '53300', 'SQLITE_BUSY', 'SQLITE_LOCKED']);
/** What node-postgres and its pool say when a connection cannot be had or died (they carry no code). */
const CONNECTION_MESSAGES = /^(timeout exceeded when trying to connect|Connection terminated|Client has encountered a connection error|Client was closed and is not queryable|Connection ended unexpectedly)/;

/**
 * Whether an error (or one in its cause chain) means the database is unreachable or refusing work for now, not
 * that the statement was wrong: the request may succeed if retried shortly (a 503, not a 500).
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 6; depth++) {
    const err = current as DriverError & { errors?: unknown };
    const code = typeof err.code === 'string' ? err.code : '';
    if (CONNECTION_ERRNOS.has(code) || UNAVAILABLE_CODES.has(code) || code.startsWith('08')) return true;
    if (typeof err.message === 'string' && CONNECTION_MESSAGES.test(err.message)) return true;
    // An AggregateError (a connect that tried IPv4 and IPv6) holds the socket errors.
    if (Array.isArray(err.errors) && err.errors.some((inner) => isDatabaseUnavailable(inner))) return true;
    current = err.cause;
  }
  return false;
}
