// Compile-time check that both dialect schemas infer the same row types; `npm run typecheck` fails on drift.
import type { InferInsertModel, InferSelectModel, Table } from 'drizzle-orm';
import type * as pg from './pg.ts';
import type * as sqlite from './sqlite.ts';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Same<A extends Table, B extends Table> = [
  Equal<InferSelectModel<A>, InferSelectModel<B>>,
  Equal<InferInsertModel<A>, InferInsertModel<B>>,
];
type TablesOf<S> = { [K in keyof S as S[K] extends Table ? K : never]: S[K] };
type PgTables = TablesOf<typeof pg>;
type SqliteTables = TablesOf<typeof sqlite>;
type Shared = keyof PgTables & keyof SqliteTables;

/** Tables only one schema has, plus shared tables whose select or insert row types differ. */
type Drifted =
  | Exclude<keyof PgTables, keyof SqliteTables>
  | Exclude<keyof SqliteTables, keyof PgTables>
  | {
      [K in Shared]: PgTables[K] extends Table ? (SqliteTables[K] extends Table ? (Same<PgTables[K], SqliteTables[K]> extends [true, true] ? never : K) : K) : K;
    }[Shared];

/** When a table drifts, this line fails with: Type 'true' is not assignable to type '"<table>"'. */
export const schemasMatch: [Drifted] extends [never] ? true : Drifted = true;
