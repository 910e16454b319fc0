// npm run seed -- --users 10000 --posts 100000: fills DATABASE_URL with demo users and posts, with a progress
// bar. Every seeded user's password is "seed password". Deterministic: the same counts give the same data.
import { parseArgs } from 'node:util';
import { DatabaseUnavailableError, newId, valueOf, type Database } from '../db/index.ts';
import { ConfigError, loadConfig, readDotEnv } from '../server/config.ts';
import { buildDeps, closeDeps } from '../server/deps.ts';
import { createLogger } from '../server/logger.ts';
import { hashPassword } from '../server/services/passwords.ts';

export const SEED_PASSWORD = 'seed password';

/** Words with very different frequencies, so searches range from rare to common (see WORD_WEIGHTS). */
const WORDS = [
  'the', 'data', 'model', 'service', 'query', 'cache', 'latency', 'index', 'vector', 'token', 'prompt', 'agent',
  'pipeline', 'schema', 'replica', 'shard', 'deploy', 'metric', 'trace', 'queue', 'worker', 'batch', 'stream',
  'embedding', 'gradient', 'kernel', 'tensor', 'cluster', 'failover', 'backpressure', 'idempotent', 'quorum',
  'heisenbug', 'zeitgeist', 'quokka', 'xylophone',
];

/** A small seeded PRNG (mulberry32): the same seed, the same demo data. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Zipf-like (s = 2): word i is 1/(i+1)² as likely as the first, so late words are rare (a few % of posts). */
function wordPicker(next: () => number) {
  const weights = WORDS.map((_, i) => 1 / (i + 1) ** 2);
  const total = weights.reduce((a, b) => a + b, 0);
  return () => {
    let r = next() * total;
    for (let i = 0; i < WORDS.length; i++) {
      r -= weights[i];
      if (r <= 0) return WORDS[i];
    }
    return WORDS[WORDS.length - 1];
  };
}

function progress(label: string, done: number, total: number): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  const line = `${label.padEnd(6)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.floor((done / total) * 100)).padStart(3)}% ${done}/${total}`;
  if (process.stderr.isTTY) process.stderr.write(`\r${line}${done === total ? '\n' : ''}`);
  else if (done === total || done % Math.max(1, Math.floor(total / 10)) === 0) process.stderr.write(`${line}\n`);
}

const seconds = (since: number) => ((Date.now() - since) / 1000).toFixed(1);

export type SeedResult = { users: number; posts: number; seconds: number };

/** Inserts `users` users and `posts` posts (90% published) in batches, inside transactions, then gathers statistics (db.analyze: ANALYZE, and VACUUM on Postgres). */
export async function seed(db: Database, counts: { users: number; posts: number }, options: { prefix?: string; quiet?: boolean } = {}): Promise<SeedResult> {
  const started = Date.now();
  const prefix = options.prefix ?? 'seed';
  const next = random(42);
  const word = wordPicker(next);
  const sentence = (min: number, max: number) => Array.from({ length: min + Math.floor(next() * (max - min)) }, word).join(' ');
  const passwordHash = await hashPassword(SEED_PASSWORD);
  const { users, posts } = db.tables;
  const base = Date.UTC(2025, 0, 1);
  const show = options.quiet ? () => {} : progress;

  const userIds: string[] = [];
  const USER_BATCH = 500;
  for (let start = 0; start < counts.users; start += USER_BATCH) {
    const batch = Array.from({ length: Math.min(USER_BATCH, counts.users - start) }, (_, i) => {
      const n = start + i;
      const createdAt = new Date(base + n * 60_000);
      return { username: `${prefix}_user_${n}`, email: `${prefix}_user_${n}@example.com`, fullName: `Seed User ${n}`, passwordHash, createdAt, updatedAt: createdAt };
    });
    const rows = await db.transaction((tx) => tx.insert(users).values(batch).returning({ id: users.id }));
    userIds.push(...rows.map((row) => row.id));
    show('users', userIds.length, counts.users);
  }

  // Large batches: at 1,000,000 posts the per-statement cost dominates (both dialects take 7 × 2000 parameters).
  // Every full batch runs one statement built once (db.prepared): building an insert of 14,000 values costs
  // more than SQLite takes to run it. One statement is atomic: no transaction around it.
  const POST_BATCH = 2000;
  const columns = ['id', 'authorId', 'title', 'body', 'published', 'createdAt', 'updatedAt'] as const;
  const insertBatch = db.prepared(`seed_posts_${POST_BATCH}`, (orm, tables) =>
    orm.insert(tables.posts).values(
      Array.from({ length: POST_BATCH }, (_, i) => Object.fromEntries(columns.map((column) => [column, valueOf(`${column}${i}`, tables.posts[column])])) as unknown as typeof tables.posts.$inferInsert),
    ),
  );
  let inserted = 0;
  const insertPosts = async () => {
    for (let start = 0; start < counts.posts; start += POST_BATCH) {
      const batch = Array.from({ length: Math.min(POST_BATCH, counts.posts - start) }, (_, i) => {
        const n = start + i;
        const createdAt = new Date(base + n * 30_000);
        return {
          id: newId(),
          authorId: userIds[Math.floor(next() * userIds.length)],
          title: sentence(3, 9),
          body: sentence(40, 120),
          published: next() < 0.9,
          createdAt,
          updatedAt: createdAt,
        };
      });
      if (batch.length === POST_BATCH) {
        const values: Record<string, unknown> = {};
        batch.forEach((row, i) => {
          for (const column of columns) values[`${column}${i}`] = row[column];
        });
        await insertBatch.execute(values);
      } else await db.orm.insert(posts).values(batch);
      inserted += batch.length;
      show('posts', inserted, counts.posts);
    }
  };
  // The search index built once afterwards: at 1,000,000 posts, several times faster than row by row.
  let phaseStarted = 0;
  await db.bulkLoadPosts(async () => {
    await insertPosts();
    phaseStarted = Date.now();
    if (!options.quiet) process.stderr.write('search index and counts: building…');
  });
  if (!options.quiet) process.stderr.write(` ${seconds(phaseStarted)} s\nstatistics (ANALYZE; VACUUM too on Postgres): gathering…`);
  phaseStarted = Date.now();
  // The planner picks indexes by table statistics; a bulk load leaves them stale (or missing on SQLite). Postgres also
  // vacuums: index-only scans then skip the table's pages.
  await db.analyze();
  if (!options.quiet) process.stderr.write(` ${seconds(phaseStarted)} s\n`);
  return { users: userIds.length, posts: inserted, seconds: (Date.now() - started) / 1000 };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { users: { type: 'string', default: '10000' }, posts: { type: 'string', default: '100000' }, prefix: { type: 'string', default: 'seed' } } });
  const counts = { users: Number(values.users), posts: Number(values.posts) };
  if (!Number.isInteger(counts.users) || counts.users < 1 || !Number.isInteger(counts.posts) || counts.posts < 0) {
    console.error('seed: --users must be a positive integer and --posts a non-negative one');
    process.exit(1);
  }
  try {
    const deps = await buildDeps(loadConfig(readDotEnv()), createLogger({ level: 'warn' }));
    try {
      const result = await seed(deps.db, counts, { prefix: values.prefix });
      console.log(`seeded ${result.users} users and ${result.posts} posts in ${result.seconds.toFixed(1)} s (password: "${SEED_PASSWORD}")`);
    } finally {
      await closeDeps(deps);
    }
  } catch (error) {
    if (error instanceof ConfigError || error instanceof DatabaseUnavailableError) {
      console.error(`seed: ${error.message}`);
      process.exit(1);
    }
    throw error;
  }
}
