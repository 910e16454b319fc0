// A fresh, migrated database per test file for each dialect: SQLite in memory; Postgres cloned or PGlite.
import { inject } from 'vitest';
import pg from 'pg';
import { openDatabase, openPgliteDatabase, type Database, type Dialect } from '../../db/index.ts';
import { databaseUrlFor } from './global-setup.ts';

export const dialects: readonly Dialect[] = ['sqlite', 'postgres'];

let sequence = 0;

/**
 * How a test's Postgres database differs from the default: `locale` makes it with that ICU locale (from
 * template0, then migrated: a clone must keep its template's locale); `settings` become its defaults
 * (`alter database … set`), as an operator's would, before any connection of the app.
 */
export type PostgresVariant = { locale?: string; settings?: Record<string, string> };

/** A Postgres database of its own, cloned from the migrated template; dropped again on close. */
async function clonePostgres(baseUrl: string, template: string, migrated: boolean, variant: PostgresVariant = {}, poolMax = 5): Promise<Database> {
  const name = `${template.replace('abs_tpl_', 'abs_t_')}_${process.pid}_${++sequence}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  try {
    // Two workers cloning the same template at once can collide; try again briefly.
    for (let attempt = 1; ; attempt++) {
      try {
        if (variant.locale) {
          await admin.query(`create database ${name} template template0 locale_provider icu icu_locale ${pg.escapeLiteral(variant.locale)} locale 'C.UTF-8'`);
        } else {
          await admin.query(migrated ? `create database ${name} template ${template}` : `create database ${name}`);
        }
        break;
      } catch (error) {
        if (attempt >= 20 || !/being accessed by other users/.test(String(error))) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
      }
    }
    for (const [setting, value] of Object.entries(variant.settings ?? {})) {
      await admin.query(`alter database ${name} set ${setting} = ${pg.escapeLiteral(value)}`);
    }
  } finally {
    await admin.end();
  }
  const db = await openDatabase({ url: databaseUrlFor(baseUrl, name), poolMax, startupTimeoutMs: 5000 });
  if (variant.locale && migrated) await db.migrate();
  return {
    ...db,
    close: async () => {
      await db.close();
      const dropper = new pg.Client({ connectionString: baseUrl });
      await dropper.connect();
      await dropper.query(`drop database if exists ${name} with (force)`).finally(() => dropper.end());
    },
  };
}

export function postgresKind(): 'postgres server' | 'pglite' {
  return process.env.TEST_DATABASE_URL ? 'postgres server' : 'pglite';
}

/** Database locales and defaults can be chosen on a Postgres server, not on PGlite (one fixed database). */
export const canVaryPostgres = () => postgresKind() === 'postgres server';

/**
 * A database of the dialect's own, migrated unless `migrated: false` (for tests of start-up states).
 * `postgres` applies to a Postgres server only (see `canVaryPostgres`); so does `poolMax` (PGlite is one connection).
 */
export async function openTestDatabase(
  dialect: Dialect,
  { migrated = true, postgres, poolMax }: { migrated?: boolean; postgres?: PostgresVariant; poolMax?: number } = {},
): Promise<Database> {
  if (dialect === 'sqlite') {
    const db = await openDatabase({ url: ':memory:' });
    if (migrated) await db.migrate();
    return db;
  }
  const baseUrl = process.env.TEST_DATABASE_URL;
  const template = inject('pgTemplate');
  if (baseUrl && template) return clonePostgres(baseUrl, template, migrated, postgres, poolMax);
  if (baseUrl) throw new Error('TEST_DATABASE_URL is set but the global setup made no template database');
  return openPgliteDatabase({ migrate: migrated });
}
