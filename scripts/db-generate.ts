// Generates migrations for both dialects from db/schema; with --check, fails if the committed ones are stale.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const DIALECTS = [
  { name: 'sqlite', folder: 'db/migrations/sqlite' },
  { name: 'postgresql', folder: 'db/migrations/pg' },
] as const;

// The package's exports map hides bin.cjs from require.resolve, so use the installed bin link.
const drizzleKit = join(import.meta.dirname, '..', 'node_modules', 'drizzle-kit', 'bin.cjs');
const check = process.argv.includes('--check');
const passThrough = process.argv.slice(2).filter((arg) => arg !== '--check');

function generate(dialect: string, out: string | undefined, extra: string[]): void {
  const result = spawnSync(process.execPath, [drizzleKit, 'generate', ...extra], {
    stdio: check ? 'pipe' : 'inherit',
    env: { ...process.env, DRIZZLE_DIALECT: dialect, ...(out ? { DRIZZLE_OUT: out } : {}) },
    encoding: 'utf8',
  });
  // drizzle-kit can print an error and still exit 0, so its output is checked too.
  const failed = result.status !== 0 || (check && /\bError\b/.test(`${result.stdout}${result.stderr}`));
  if (failed) {
    if (check) process.stderr.write(`${result.stdout}${result.stderr}`);
    throw new Error(`drizzle-kit generate failed for ${dialect}`);
  }
}

const listFiles = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();

let drifted = false;
for (const { name, folder } of DIALECTS) {
  if (!check) {
    generate(name, undefined, passThrough);
    continue;
  }
  // Generate into a scratch copy: a new file there means the schema changed without a committed migration.
  // drizzle-kit only takes an `out` relative to the project, hence a scratch folder inside node_modules/.cache.
  const scratch = join('node_modules', '.cache', `migrations-check-${name}`);
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  try {
    cpSync(folder, scratch, { recursive: true });
    const before = listFiles(scratch);
    generate(name, scratch, []);
    const added = listFiles(scratch).filter((file) => !before.includes(file));
    if (added.length > 0) {
      drifted = true;
      console.error(`${folder}: the schema has changes with no migration (would add ${added.join(', ')}); run npm run db:generate`);
    } else {
      console.log(`${folder}: migrations match db/schema`);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
if (drifted) process.exit(1);
