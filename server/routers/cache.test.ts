// Exact invalidation: after every write that changes users.get or users.getWithPosts, the next read is fresh,
// on both dialects and both cache backends (Redis from TEST_REDIS_URL).
import { describe, expect, it } from 'vitest';
import { callerFor, dialects, failure, useTestDeps } from '../testing/harness.ts';
import { createUser, signedInUser, TEST_PASSWORD, uniqueName } from '../testing/factories.ts';
import type { Deps } from '../deps.ts';

const redisUrl = process.env.TEST_REDIS_URL;
const combinations = dialects.flatMap((dialect) => [
  { dialect, backend: 'memory' as const },
  { dialect, backend: 'redis' as const },
]);

/** How many statements `fn` runs: 0 means it was served from the cache. */
async function queriesDuring(deps: Deps, fn: () => Promise<unknown>): Promise<number> {
  let count = 0;
  const stop = deps.db.onQuery(() => count++);
  try {
    await fn();
  } finally {
    stop();
  }
  return count;
}

describe.each(combinations)('cache on $dialect with the $backend backend', ({ dialect, backend }) => {
  const skip = backend === 'redis' && !redisUrl;
  const env: Record<string, string> = backend === 'redis' ? { REDIS_URL: redisUrl ?? '', REDIS_KEY_PREFIX: `test:${uniqueName('cache')}:` } : {};
  const deps = useTestDeps(dialect, { env });
  const anonymous = () => callerFor(deps.current);

  describe.skipIf(skip)(backend === 'redis' ? 'shared through Redis (TEST_REDIS_URL)' : 'in process', () => {
    it('uses the configured backend and serves repeated reads without queries', async () => {
      expect(deps.current.cache.backend).toBe(backend);
      const user = await createUser(deps.current);
      expect(await queriesDuring(deps.current, () => anonymous().users.get({ id: user.id }))).toBe(1);
      expect(await queriesDuring(deps.current, () => anonymous().users.get({ id: user.id }))).toBe(0);
      expect(await queriesDuring(deps.current, () => anonymous().users.getWithPosts({ id: user.id }))).toBe(2);
      expect(await queriesDuring(deps.current, () => anonymous().users.getWithPosts({ id: user.id, postsLimit: 3 }))).toBe(0);
    });

    it('does one database read for many concurrent misses of one profile', async () => {
      const user = await createUser(deps.current);
      const count = await queriesDuring(deps.current, () => Promise.all(Array.from({ length: 10 }, () => anonymous().users.getWithPosts({ id: user.id }))));
      expect(count).toBe(2);
    });

    /** Warms both cached reads, runs the write, and checks the next reads went to the database and see it. */
    async function expectFreshAfter(user: { id: string }, write: () => Promise<unknown>, check: () => Promise<void>) {
      await anonymous().users.get({ id: user.id }).catch(() => {});
      await anonymous().users.getWithPosts({ id: user.id }).catch(() => {});
      expect(await queriesDuring(deps.current, () => anonymous().users.getWithPosts({ id: user.id }).catch(() => {}))).toBe(0);
      await write();
      const queries = await queriesDuring(deps.current, check);
      expect(queries).toBeGreaterThan(0);
    }

    it('a profile update', async () => {
      const { user, caller } = await signedInUser(deps.current);
      await expectFreshAfter(user, () => caller.users.updateMe({ fullName: 'Renamed' }), async () => {
        expect((await anonymous().users.get({ id: user.id })).fullName).toBe('Renamed');
        expect((await anonymous().users.getWithPosts({ id: user.id })).fullName).toBe('Renamed');
      });
    });

    it('deactivation and reactivation', async () => {
      const admin = await signedInUser(deps.current, { role: 'admin' });
      const user = await createUser(deps.current);
      await expectFreshAfter(user, () => admin.caller.users.setActive({ id: user.id, isActive: false }), async () => {
        expect((await failure(anonymous().users.get({ id: user.id }))).code).toBe('NOT_FOUND');
        expect((await failure(anonymous().users.getWithPosts({ id: user.id }))).code).toBe('NOT_FOUND');
      });
      await admin.caller.users.setActive({ id: user.id, isActive: true });
      expect((await anonymous().users.get({ id: user.id })).id).toBe(user.id);
    });

    it('a role change', async () => {
      const admin = await signedInUser(deps.current, { role: 'admin' });
      const user = await createUser(deps.current);
      await expectFreshAfter(user, () => admin.caller.users.setRole({ id: user.id, role: 'admin' }), async () => {
        expect((await anonymous().users.get({ id: user.id })).id).toBe(user.id);
      });
    });

    it('deletion by an admin, and by the user', async () => {
      const admin = await signedInUser(deps.current, { role: 'admin' });
      const user = await createUser(deps.current);
      await expectFreshAfter(user, () => admin.caller.users.delete({ id: user.id }), async () => {
        expect((await failure(anonymous().users.get({ id: user.id }))).code).toBe('NOT_FOUND');
      });
      const self = await signedInUser(deps.current);
      await expectFreshAfter(self.user, () => self.caller.users.deleteMe({ password: TEST_PASSWORD }), async () => {
        expect((await failure(anonymous().users.getWithPosts({ id: self.user.id }))).code).toBe('NOT_FOUND');
      });
    });

    it('post create, update, publish, unpublish and delete by that author', async () => {
      const { user, caller } = await signedInUser(deps.current);
      const titles = async () => (await anonymous().users.getWithPosts({ id: user.id })).posts.map((post) => post.title);
      let postId = '';
      await expectFreshAfter(user, async () => (postId = (await caller.posts.create({ title: 'Live', body: 'b', published: true })).id), async () => {
        expect(await titles()).toEqual(['Live']);
      });
      await expectFreshAfter(user, () => caller.posts.update({ id: postId, title: 'Live, edited' }), async () => {
        expect(await titles()).toEqual(['Live, edited']);
      });
      await expectFreshAfter(user, () => caller.posts.update({ id: postId, published: false }), async () => {
        expect(await titles()).toEqual([]);
      });
      await expectFreshAfter(user, () => caller.posts.update({ id: postId, published: true }), async () => {
        expect(await titles()).toEqual(['Live, edited']);
      });
      await expectFreshAfter(user, () => caller.posts.delete({ id: postId }), async () => {
        expect(await titles()).toEqual([]);
      });
    });

    it('a post deleted by an admin', async () => {
      const admin = await signedInUser(deps.current, { role: 'admin' });
      const { user, caller } = await signedInUser(deps.current);
      const post = await caller.posts.create({ title: 'Moderated', body: 'b', published: true });
      await expectFreshAfter(user, () => admin.caller.posts.delete({ id: post.id }), async () => {
        expect((await anonymous().users.getWithPosts({ id: user.id })).posts).toEqual([]);
      });
    });
  });
});
