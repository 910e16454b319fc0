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
