// Rows of a prepared select mapped by a function made once for its fields. drizzle maps each row with
// mapResultRow, which works out again for every field of every row what kind of field it is (`is(field, Column)`
// walks the class chain of each SQL field) and reduces over the fields with a closure: 66 µs of a 20-post
// `posts.list` page here, a tenth of the request's CPU, for what is the same decision for every row.
// db/row-mapper.test.ts checks the answers against drizzle's own mapping on both dialects.
import { Column, getTableName, is, SQL, Subquery } from 'drizzle-orm';

type Decoder = { mapFromDriverValue: (value: unknown) => unknown };
type SelectedField = { path: string[]; field: unknown };
type Row = unknown[];
type Mapped = Record<string, unknown>;

/** What mapResultRow decodes a field's value with (an SQL's decoder is internal to drizzle's types). */
function decoderOf(field: unknown): Decoder {
  if (is(field, Column)) return field;
  const decoderOfSql = (sql: SQL) => (sql as unknown as { decoder: Decoder }).decoder;
  if (is(field, SQL)) return decoderOfSql(field);
  if (is(field, Subquery)) return decoderOfSql((field as unknown as { _: { sql: SQL } })._.sql);
  return decoderOfSql((field as { sql: SQL }).sql);
}

/**
 * mapResultRow's work for one list of fields, decided once: each value decoded by its field's decoder (null stays
 * null) at its path, and, for a select with joins, an object of a joined table that may be missing (a left join's)
 * made null when the first of its columns is null and its columns all come from that table.
 */
export function compileRowMapper(fields: readonly SelectedField[], joinsNotNullableMap?: Record<string, boolean>): (row: Row) => Mapped {
  const steps = fields.map(({ path, field }) => ({
    parents: path.slice(0, -1),
    key: path[path.length - 1],
    decoder: decoderOf(field),
    joined: joinsNotNullableMap && is(field, Column) && path.length === 2 ? { object: path[0], table: getTableName(field.table) } : undefined,
  }));
  const anyJoined = steps.some((step) => step.joined);
  return (row) => {
    const result: Mapped = {};
    const nullify: Record<string, string | false> | undefined = anyJoined ? {} : undefined;
    for (let index = 0; index < steps.length; index++) {
      const { parents, key, decoder, joined } = steps[index];
      let node = result;
      for (const parent of parents) {
        if (!(parent in node)) node[parent] = {};
        node = node[parent] as Mapped;
      }
      const raw = row[index];
      const value = (node[key] = raw === null ? null : decoder.mapFromDriverValue(raw));
      if (joined && nullify) {
        const seen = nullify[joined.object];
        if (seen === undefined) nullify[joined.object] = value === null ? joined.table : false;
        else if (typeof seen === 'string' && seen !== joined.table) nullify[joined.object] = false;
      }
    }
    if (nullify) {
      for (const [object, table] of Object.entries(nullify)) {
        if (typeof table === 'string' && !joinsNotNullableMap![table]) result[object] = null;
      }
    }
    return result;
  };
}

type PreparedSelect = {
  fields?: SelectedField[];
  joinsNotNullableMap?: Record<string, boolean>;
  customResultMapper?: unknown;
  mapGetResult?: (rows: unknown, isFromBatch?: boolean) => unknown;
};

/**
 * Makes a prepared query map its rows with compileRowMapper, when it is a select drizzle would map with
 * mapResultRow (it has fields and no mapper of its own). Every dialect's prepared query hands its rows to a
 * `customResultMapper` when it has one; SQLite's `get()` hands it the one row inside an array (for relational
 * queries' mappers), so there the one row is mapped as itself.
 */
export function mapRowsOnce<Q>(query: Q): Q {
  const prepared = query as PreparedSelect;
  if (!prepared.fields || prepared.customResultMapper) return query;
  const mapRow = compileRowMapper(prepared.fields, prepared.joinsNotNullableMap);
  prepared.customResultMapper = (rows: Row[]) => rows.map(mapRow);
  if (typeof prepared.mapGetResult === 'function') {
    prepared.mapGetResult = (rows, isFromBatch) => {
      const row = (isFromBatch ? (rows as { rows: unknown }).rows : rows) as Row | undefined;
      return row ? mapRow(row) : undefined;
    };
  }
  return query;
}
