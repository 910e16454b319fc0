// The schema services are typed against (Postgres), and the SQLite twin handed in at run time by db/index.ts.
export * as pgSchema from './pg.ts';
export * as sqliteSchema from './sqlite.ts';
export { ROLES, type Role } from './shared.ts';
