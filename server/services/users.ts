// Users: public profiles, self-service profile changes, and what admins do to accounts.
import { and, count, desc, eq, or, type SQL } from 'drizzle-orm';
import type { Executor, Tables } from '../../db/index.ts';
import type { Deps } from '../deps.ts';
import { AppError, conflict, notFound } from '../errors.ts';
import type { PublicUser, Role, User, UserWithPosts } from '../schemas.ts';
import { findUniqueViolation, usernameKey } from '../../db/index.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { deleteUserSessions } from './sessions.ts';
import { allUserCacheKeys, userCacheKeys } from './cache-keys.ts';
import { latestPublishedPosts, PROFILE_POSTS_CACHED } from './posts.ts';

/** The columns of a User, for selects and returning clauses: never the password hash. */
export const userColumns = (users: Tables['users']) => ({
  id: users.id,
  username: users.username,
  email: users.email,
  fullName: users.fullName,
  role: users.role,
  isActive: users.isActive,
  createdAt: users.createdAt,
});

export const publicUserColumns = (users: Tables['users']) => ({
  id: users.id,
  username: users.username,
  fullName: users.fullName,
  createdAt: users.createdAt,
});

async function loadPublicUser(deps: Deps, id: string): Promise<PublicUser> {
  const { users } = deps.db.tables;
  const [row] = await deps.db.orm
    .select(publicUserColumns(users))
    .from(users)
    .where(and(eq(users.id, id), eq(users.isActive, true)));
  if (!row) throw notFound('user');
  return row;
}

/** The public profile (cached). Inactive accounts have none. */
export function getPublicUser(deps: Deps, id: string): Promise<PublicUser> {
  return deps.cache.getOrLoad(userCacheKeys(id).profile, () => loadPublicUser(deps, id));
}

/**
 * The public profile with its latest published posts: two queries on a miss, whatever the number of posts.
 * The cache holds the newest PROFILE_POSTS_CACHED posts once per user; each request takes a prefix.
 */
export async function getUserWithPosts(deps: Deps, id: string, postsLimit: number): Promise<UserWithPosts> {
  const profile = await deps.cache.getOrLoad(userCacheKeys(id).withPosts, async () => {
    const [user, posts] = await Promise.all([loadPublicUser(deps, id), latestPublishedPosts(deps, id, PROFILE_POSTS_CACHED)]);
    return { ...user, posts };
  });
  return { ...profile, posts: profile.posts.slice(0, postsLimit) };
}

/** Turns a unique violation on users into a CONFLICT naming the field; rethrows anything else. */
export function rethrowUserConflict(error: unknown): never {
  const violation = findUniqueViolation(error);
  if (violation?.table === 'users' && violation.field) throw conflict(violation.field);
  throw error;
}

export async function updateMe(deps: Deps, userId: string, input: { fullName?: string | null; email?: string }): Promise<User> {
  const { users } = deps.db.tables;
  const [row] = await deps.db.orm
    .update(users)
    .set({ ...input, updatedAt: deps.clock.now() })
    .where(eq(users.id, userId))
    .returning(userColumns(users))
    .catch(rethrowUserConflict);
  if (!row) throw notFound('user');
  await deps.cache.invalidate(...allUserCacheKeys(userId));
  return row;
}

const lastAdmin = () => new AppError('CONFLICT', 'the last active admin cannot be deactivated, demoted or deleted');

/**
 * Changes a user under the rule that at least one active admin remains. The active admins' rows are locked
 * first, so two admins demoting each other at once cannot both succeed.
 */
async function changeGuardingLastAdmin<T>(deps: Deps, userId: string, change: (tx: Executor, target: { role: Role; isActive: boolean }) => Promise<T>, wouldRemoveAdmin: (target: { role: Role; isActive: boolean }) => boolean): Promise<T> {
  const { users } = deps.db.tables;
  const result = await deps.db.transaction(async (tx) => {
    const admins = await deps.db.forUpdate(tx.select({ id: users.id }).from(users).where(and(eq(users.role, 'admin'), eq(users.isActive, true))));
    const [target] = await tx.select({ role: users.role, isActive: users.isActive }).from(users).where(eq(users.id, userId));
    if (!target) throw notFound('user');
    const isActiveAdmin = target.role === 'admin' && target.isActive;
    if (isActiveAdmin && wouldRemoveAdmin(target) && admins.filter((admin) => admin.id !== userId).length === 0) throw lastAdmin();
    return change(tx, target);
  });
  await deps.cache.invalidate(...allUserCacheKeys(userId));
  return result;
}

export async function setActive(deps: Deps, userId: string, isActive: boolean): Promise<User> {
  const { users } = deps.db.tables;
  return changeGuardingLastAdmin(
    deps,
    userId,
    async (tx) => {
      const [row] = await tx.update(users).set({ isActive, updatedAt: deps.clock.now() }).where(eq(users.id, userId)).returning(userColumns(users));
      // Deactivation ends every session; API tokens stop working while the account is inactive.
      if (!isActive) await deleteUserSessions(deps, userId, { db: tx });
      return row;
    },
    () => !isActive,
  );
}

export async function setRole(deps: Deps, userId: string, role: Role): Promise<User> {
  const { users } = deps.db.tables;
  return changeGuardingLastAdmin(
    deps,
    userId,
    async (tx) => {
      const [row] = await tx.update(users).set({ role, updatedAt: deps.clock.now() }).where(eq(users.id, userId)).returning(userColumns(users));
      return row;
    },
    () => role !== 'admin',
  );
}

export async function deleteUser(deps: Deps, userId: string): Promise<void> {
  const { users } = deps.db.tables;
  await changeGuardingLastAdmin(
    deps,
    userId,
    async (tx) => {
      await tx.delete(users).where(eq(users.id, userId));
    },
    () => true,
  );
}

/** Deletes one's own account after checking the password; sessions and tokens go with it (cascade). */
export async function deleteMe(deps: Deps, userId: string, password: string): Promise<void> {
  const { users } = deps.db.tables;
  const [row] = await deps.db.orm.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, userId));
  if (!row || !(await verifyPassword(row.passwordHash, password))) {
    throw new AppError('BAD_REQUEST', 'password is incorrect', { fieldErrors: { password: ['password is incorrect'] } });
  }
  await deleteUser(deps, userId);
}

export type UserFilter = { q?: string | undefined; role?: Role | undefined; isActive?: boolean | undefined; skip: number; limit: number };

/**
 * Admin listing: newest first; `q` matches username, e-mail or full name, case-insensitively and literally.
 * Usernames and e-mails are compared as stored for comparison (username keys; e-mails, lower-cased when
 * saved), with `q` folded the same way here; full names in any script, folded by the database.
 */
export async function listUsers(deps: Deps, filter: UserFilter): Promise<{ items: User[]; total: number }> {
  const { users } = deps.db.tables;
  const { q } = filter;
  const conditions: (SQL | undefined)[] = [
    q ? or(deps.db.includes(users.usernameKey, usernameKey(q)), deps.db.includes(users.email, q.toLowerCase()), deps.db.contains(users.fullName, q)) : undefined,
    filter.role ? eq(users.role, filter.role) : undefined,
    filter.isActive === undefined ? undefined : eq(users.isActive, filter.isActive),
  ];
  const where = and(...conditions);
  const [items, [{ total }]] = await Promise.all([
    deps.db.orm.select(userColumns(users)).from(users).where(where).orderBy(desc(users.createdAt), desc(users.id)).limit(filter.limit).offset(filter.skip),
    deps.db.orm.select({ total: count() }).from(users).where(where),
  ]);
  return { items, total };
}


/**
 * How an installation gets its first admin: promotes (and reactivates) the account with this username or
 * e-mail, or creates one with the password `getPassword` supplies (asked only when an account is created).
 */
export async function createOrPromoteAdmin(
  deps: Deps,
  input: { username: string; email: string },
  getPassword: () => Promise<string>,
): Promise<{ user: User; created: boolean }> {
  const { users } = deps.db.tables;
  const [existing] = await deps.db.orm
    .select({ id: users.id })
    .from(users)
    .where(or(eq(users.usernameKey, usernameKey(input.username)), eq(users.email, input.email)));
  if (existing) {
    const [user] = await deps.db.orm
      .update(users)
      .set({ role: 'admin', isActive: true, updatedAt: deps.clock.now() })
      .where(eq(users.id, existing.id))
      .returning(userColumns(users));
    await deps.cache.invalidate(...allUserCacheKeys(user.id));
    return { user, created: false };
  }
  const passwordHash = await hashPassword(await getPassword());
  const now = deps.clock.now();
  const [user] = await deps.db.orm
    .insert(users)
    .values({ ...input, role: 'admin', passwordHash, createdAt: now, updatedAt: now })
    .returning(userColumns(users))
    .catch(rethrowUserConflict);
  return { user, created: true };
}
