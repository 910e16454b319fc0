// The in-process cache of several API processes on one Postgres without Redis (TEST_DATABASE_URL): what one
// process's write invalidates is dropped by the others too (NOTIFY), and a process that cannot hear the others
// reads the database instead of its memory. Two sets of deps with connections of their own stand for two processes.
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../db/index.ts';
import { assembleDeps, closeDeps, type Deps } from './deps.ts';
import { createPost } from './services/posts.ts';
import { getPublicUser, getUserWithPosts, updateMe } from './services/users.ts';
import { createUser } from './testing/factories.ts';
import { captureLogs, createTestDeps, testConfig } from './testing/harness.ts';

const testDatabaseUrl = process.env.TEST_DATABASE_URL;

/** Counts the statements a process runs, to tell a read served from its memory (none) from one that loaded. */
function statementsOf(deps: Deps): () => number {
  let count = 0;
  deps.db.onQuery(() => count++);
  return () => count;
}

describe.skipIf(!testDatabaseUrl)('the in-process cache across processes on Postgres (TEST_DATABASE_URL, no Redis)', () => {
  let one: Deps;
  let two: Deps;
  let statementsOfTwo: () => number;

  beforeAll(async () => {
    one = await createTestDeps('postgres');
    const url = one.db.source.kind === 'postgres' ? one.db.source.url : '';
    const { logger } = captureLogs('warn');
    const db = await openDatabase({ url, poolMax: 4 });
    two = await assembleDeps({ config: testConfig({ DATABASE_URL: url }), logger, db, queueBackend: { kind: 'postgres', url } });
    statementsOfTwo = statementsOf(two);
  });
  afterAll(async () => {
    if (two) await closeDeps(two);
    if (one) await closeDeps(one);
  });

  /** Reads through the second process until it serves the read from its memory (it listens from its first read). */
  async function cachedInTwo(read: () => Promise<unknown>): Promise<void> {
    await expect
      .poll(async () => {
        const before = statementsOfTwo();
        await read();
        return statementsOfTwo() - before;
      })
      .toBe(0);
  }

  it('drops what another process invalidated: a changed profile and a new post are read fresh', async () => {
    expect(one.cache.backend).toBe('memory');
    const user = await createUser(one, { fullName: 'Before' });
    await cachedInTwo(() => getPublicUser(two, user.id));
    await cachedInTwo(() => getUserWithPosts(two, user.id, 10));
    expect((await getPublicUser(two, user.id)).fullName).toBe('Before');

    await updateMe(one, { user, viaSession: true, ip: null }, { fullName: 'After' });
    await expect.poll(async () => (await getPublicUser(two, user.id)).fullName).toBe('After');

    const post = await createPost(one, user, { title: 'seen by every process', body: 'body', published: true });
    await expect.poll(async () => (await getUserWithPosts(two, user.id, 10)).posts.map((item) => item.id)).toEqual([post.id]);
    // And caches again afterwards.
    await cachedInTwo(() => getPublicUser(two, user.id));
  });

  it('drops every key of an invalidation too large for one notification', async () => {
    const keys = Array.from({ length: 400 }, (_, i) => `test:many:${one.version}:${i}:${'x'.repeat(40)}`);
    let loads = 0;
    const load = async () => ++loads;
    const first = keys[0];
    const last = keys.at(-1)!;
    // Cached once two reads the same value twice running (it listens from its first read).
    await expect.poll(async () => (await two.cache.getOrLoad(first, load)) === (await two.cache.getOrLoad(first, load))).toBe(true);
    const cachedFirst = await two.cache.getOrLoad(first, load);
    const cachedLast = await two.cache.getOrLoad(last, load);
    expect(await two.cache.getOrLoad(last, load)).toBe(cachedLast);

    await one.cache.invalidate(...keys);
    await expect.poll(() => two.cache.getOrLoad(first, load)).not.toBe(cachedFirst);
    await expect.poll(() => two.cache.getOrLoad(last, load)).not.toBe(cachedLast);
  });

  it('reads the database while it cannot hear the others, and forgets what it held once it hears them again', async () => {
    const user = await createUser(one, { fullName: 'Held' });
    await cachedInTwo(() => getPublicUser(two, user.id));

    // Both processes' LISTEN connections drop; a write meanwhile would announce to nobody. This one announces
    // nothing at all (it bypasses the services), so only a process that stopped trusting its memory reads it.
    await one.db.orm.execute(sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'ai-backend-service:listen' and datname = current_database()`);
    await one.db.orm.update(one.db.tables.users).set({ fullName: 'Changed behind its back' }).where(eq(one.db.tables.users.id, user.id));
    await expect.poll(async () => (await getPublicUser(two, user.id)).fullName).toBe('Changed behind its back');
    // Once it hears the others again it caches again.
    await cachedInTwo(() => getPublicUser(two, user.id));
  });
});
