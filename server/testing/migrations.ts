// For migration tests: a copy of a dialect's committed migrations that stops before a given one, so a test can
// build a database as it was before that migration, fill it with old rows, then run the rest.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Dialect } from '../../db/index.ts';

const FOLDERS = { sqlite: 'sqlite', postgres: 'pg' } as const;

/** Copies the migrations of `dialect` into `scratch/<dialect>` with the journal cut before the one whose tag ends with `_<name>`. */
export function migrationsBefore(dialect: Dialect, name: string, scratch: string): string {
  const source = fileURLToPath(new URL(`../../db/migrations/${FOLDERS[dialect]}`, import.meta.url));
  const target = join(scratch, dialect);
  cpSync(source, target, { recursive: true });
  const journalPath = join(target, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { tag: string }[] };
  const at = journal.entries.findIndex((entry) => entry.tag.endsWith(`_${name}`));
  if (at <= 0) throw new Error(`no committed ${dialect} migration named ${name} after the first`);
  journal.entries = journal.entries.slice(0, at);
  writeFileSync(journalPath, JSON.stringify(journal));
  return target;
}
