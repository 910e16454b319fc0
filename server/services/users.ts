// Users: public profiles, self-service profile changes, and what admins do to accounts.
import { and, desc, eq, inArray, or } from 'drizzle-orm';
import { ROLES, type Database, type Tx } from '../../db/index.ts';
import type { Enqueue } from '../../jobs/queue.ts';
import type { Deps } from '../deps.ts';
import { AppError, notFound } from '../errors.ts';
import type { PublicUser, Role, User, UserWithPosts } from '../schemas.ts';
import { usernameKey } from '../../db/index.ts';
import { emailChangedJob } from '../../jobs/definitions/email-changed-notice.ts';
import { useUpResetTokens } from './credentials.ts';
import { assertPasswordNotIdentity, verifyAccountPassword } from './password-checks.ts';
import { hashPassword } from './passwords.ts';
import { generateToken } from './tokens.ts';
import { passwordResetJob } from '../../jobs/definitions/password-reset-email.ts';
import { welcomeEmailJob } from '../../jobs/definitions/welcome-email.ts';
import { deleteUserSessions } from './sessions.ts';
import { forgetTaskJobs } from './tasks.ts';
import { allUserCacheKeys, userCacheKeys } from './cache-keys.ts';
import { publicUserColumns, rethrowUserConflict, userColumns } from './user-columns.ts';
import { latestPublishedPosts, PROFILE_POSTS_CACHED } from './posts.ts';
import { decodeCursor, fixedValue, newestFirstStatements, pageValues, searchNewestFirst, toCountedPage, type Page, type PageRequest } from './pages.ts';

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

/**
 * Changes one's own name and e-mail address. A new address takes a session (not an API token) and the current
 * password, and is limited per client IP as tightly as registration (a taken address is a CONFLICT, which tells
 * that it has an account). With the new address, outstanding reset tokens are used up and the previous address
 * is told, by an e-mail that commits with the change.
 */
export async function updateMe(
  deps: Deps,
  who: { user: Pick<User, 'id' | 'username' | 'email'>; viaSession: boolean; ip: string | null },
  input: { fullName?: string | null | undefined; email?: string | undefined; currentPassword?: string | undefined },
): Promise<User> {
  const { users } = deps.db.tables;
  const { user } = who;
  const changes = { ...(input.fullName !== undefined ? { fullName: input.fullName } : {}), updatedAt: deps.clock.now() };
  const newEmail = input.email !== undefined && input.email !== user.email ? input.email : undefined;
  if (newEmail === undefined) {
    const [row] = await deps.db.orm.update(users).set(changes).where(eq(users.id, user.id)).returning(userColumns(users));
    if (!row) throw notFound('user');
    await deps.cache.invalidate(...allUserCacheKeys(user.id));
    return row;
  }

  if (!who.viaSession) throw new AppError('FORBIDDEN', 'API tokens cannot change the e-mail address: use a session');
  if (!input.currentPassword) {
    const message = 'your current password is required to change the e-mail address';
    throw new AppError('BAD_REQUEST', `currentPassword: ${message}`, { fieldErrors: { currentPassword: [message] } });
  }
  const budget = await deps.rateLimits.consume('emailChange', deps.rateLimits.ipKey(who.ip));
  if (!budget.allowed) {
    throw new AppError('TOO_MANY_REQUESTS', 'too many e-mail address changes; try again later', { retryAfterSeconds: budget.resetSeconds, limit: budget.limit });
  }
  await verifyAccountPassword(deps, { userId: user.id, ip: who.ip }, input.currentPassword, { field: 'currentPassword', message: 'current password is incorrect' });
  const row = await deps.queue
    .transaction(async (tx, enqueue) => {
      const [updated] = await tx
        .update(users)
        .set({ ...changes, email: newEmail })
        .where(eq(users.id, user.id))
        .returning(userColumns(users));
      if (!updated) throw notFound('user');
      await useUpResetTokens(deps, user.id, tx);
      await enqueue(emailChangedJob, { oldEmail: user.email, newEmail, username: updated.username });
      return updated;
    })
    .catch(rethrowUserConflict);
  await deps.cache.invalidate(...allUserCacheKeys(user.id));
  return row;
}

const lastAdmin = () => new AppError('CONFLICT', 'the last active admin cannot be deactivated, demoted or deleted');
const notOnSelf = () => new AppError('FORBIDDEN', 'an admin cannot deactivate or delete their own account');

/**
 * Who asks for an admin change: the signed-in admin (and whether by session, not API token), or null for the
 * service itself (scripts, tests).
 */
export type Actor = { id: string; viaSession?: boolean } | null;

/**
 * Changes a user under the rule that at least one active admin remains. The active admins' rows are locked
 * first, so two admins demoting each other at once cannot both succeed.
 */
async function changeGuardingLastAdmin<T>(
  deps: Deps,
  userId: string,
  change: (tx: Tx, enqueue: Enqueue) => Promise<T>,
  wouldRemoveAdmin: (target: { role: Role; isActive: boolean }) => boolean,
): Promise<T> {
  const { users } = deps.db.tables;
  // A queue transaction: jobs a change enqueues (the e-mail-changed notice) commit with it.
  const result = await deps.queue.transaction(async (tx, enqueue) => {
    const admins = await deps.db.forUpdate(tx.select({ id: users.id }).from(users).where(and(eq(users.role, 'admin'), eq(users.isActive, true))));
    // The target's row locked too: what a change reads of the account's other rows (deleteUser's tasks) stays whole.
    const [target] = await deps.db.forUpdate(tx.select({ role: users.role, isActive: users.isActive }).from(users).where(eq(users.id, userId)));
    if (!target) throw notFound('user');
    const isActiveAdmin = target.role === 'admin' && target.isActive;
    if (isActiveAdmin && wouldRemoveAdmin(target) && admins.filter((admin) => admin.id !== userId).length === 0) throw lastAdmin();
    return change(tx, enqueue);
  });
  await deps.cache.invalidate(...allUserCacheKeys(userId));
  return result;
}

export type UserChanges = { fullName?: string | null | undefined; email?: string | undefined; role?: Role | undefined; isActive?: boolean | undefined };

/**
 * An admin's change to an account: name, e-mail, role, active. At least one active admin remains; an admin cannot
 * deactivate their own account, nor change its e-mail address here, and only a session (not an API token) changes
 * an e-mail address. Deactivation ends every session and uses up mailed reset links (API tokens stop
 * working while the account is inactive, and work again when it is reactivated). A new e-mail address uses up
 * the reset links mailed to the old one, and the old address is told, by an e-mail that commits with the change;
 * a taken address is a CONFLICT naming `email`.
 */
export async function updateUser(deps: Deps, actor: Actor, userId: string, changes: UserChanges): Promise<User> {
  if (actor?.id === userId && changes.isActive === false) throw notOnSelf();
  const { users } = deps.db.tables;
  const wouldRemoveAdmin = () => changes.isActive === false || (changes.role !== undefined && changes.role !== 'admin');
  return changeGuardingLastAdmin(
    deps,
    userId,
    async (tx, enqueue) => {
      const set = {
        ...(changes.fullName !== undefined ? { fullName: changes.fullName } : {}),
        ...(changes.email !== undefined ? { email: changes.email } : {}),
        ...(changes.role !== undefined ? { role: changes.role } : {}),
        ...(changes.isActive !== undefined ? { isActive: changes.isActive } : {}),
        updatedAt: deps.clock.now(),
      };
      const [before] = await tx.select({ email: users.email, username: users.username }).from(users).where(eq(users.id, userId));
      const newEmail = changes.email !== undefined && changes.email !== before.email ? changes.email : undefined;
      // The address is where password resets go: moving it is a takeover for whoever holds a leaked API token,
      // and one's own moves only with one's current password (users.updateMe).
      if (newEmail !== undefined && actor?.id === userId) throw new AppError('FORBIDDEN', 'change your own e-mail address with users.updateMe: it takes your current password');
      if (newEmail !== undefined && actor && !actor.viaSession) throw new AppError('FORBIDDEN', 'API tokens cannot change e-mail addresses: use a session');
      const [row] = await tx.update(users).set(set).where(eq(users.id, userId)).returning(userColumns(users));
      if (changes.isActive === false) await deleteUserSessions(deps, userId, { db: tx });
      if (changes.isActive === false || newEmail !== undefined) await useUpResetTokens(deps, userId, tx);
      if (newEmail !== undefined) await enqueue(emailChangedJob, { oldEmail: before.email, newEmail, username: row.username });
      return row;
    },
    wouldRemoveAdmin,
  ).catch(rethrowUserConflict);
}

export type NewUser = { username: string; email: string; fullName?: string | null | undefined; role: Role; password?: string | undefined };

/**
 * An admin creates an account. With a password, the user gets the welcome e-mail (as on registration); without
 * one, the account gets an unusable random password and the user a set-password e-mail through the reset flow
 * (a single-use token, valid for an hour; after that, "forgot password" mails a new one). Either e-mail commits
 * with the account. A taken username or e-mail is a CONFLICT naming the field.
 */
export async function createUserByAdmin(deps: Deps, input: NewUser): Promise<User> {
  if (input.password !== undefined) assertPasswordNotIdentity(input.password, input, 'password');
  const passwordHash = await hashPassword(input.password ?? generateToken());
  const { users } = deps.db.tables;
  const now = deps.clock.now();
  return deps.queue
    .transaction(async (tx, enqueue) => {
      const [user] = await tx
        .insert(users)
        .values({ username: input.username, email: input.email, fullName: input.fullName ?? null, role: input.role, passwordHash, createdAt: now, updatedAt: now })
        .returning(userColumns(users));
      if (input.password !== undefined) await enqueue(welcomeEmailJob, { userId: user.id });
      else await enqueue(passwordResetJob, { email: user.email, purpose: 'set' });
      return user;
    })
    .catch(rethrowUserConflict);
}

export function setActive(deps: Deps, userId: string, isActive: boolean, actor: Actor = null): Promise<User> {
  return updateUser(deps, actor, userId, { isActive });
}

/**
 * Deletes an account (sessions, tokens, posts and tasks go with it); an admin cannot delete their own this way
 * (users.deleteMe can). Then its tasks' jobs are stripped of what they carry of them (forgetTaskJobs), without the
 * request waiting for it: a queue still starting, or refusing, would hold the request.
 */
export async function deleteUser(deps: Deps, userId: string, actor: Actor = null): Promise<void> {
  if (actor?.id === userId) throw notOnSelf();
  const { users, tasks } = deps.db.tables;
  const taskIds = await changeGuardingLastAdmin(
    deps,
    userId,
    async (tx) => {
      // The account's row is locked (changeGuardingLastAdmin): a task inserted meanwhile has committed, or fails its key.
      const owned = await tx.select({ id: tasks.id }).from(tasks).where(eq(tasks.userId, userId));
      await tx.delete(users).where(eq(users.id, userId));
      return owned.map((task) => task.id);
    },
    () => true,
  );
  void forgetTaskJobs(deps, taskIds);
}

/** Deletes one's own account after checking the password (within the password-check budgets); sessions and tokens go with it (cascade). */
export async function deleteMe(deps: Deps, who: { userId: string; ip: string | null }, password: string): Promise<void> {
  await verifyAccountPassword(deps, who, password, { field: 'password', message: 'password is incorrect' });
  await deleteUser(deps, who.userId);
}

export type UserFilter = PageRequest & { q?: string | undefined; role?: Role | undefined; isActive?: boolean | undefined };

/**
 * Users a search's walk reads per query after its first 1,000 (text under three characters, or found in more than
 * TOTAL_CAP users). Each query stays short (a block of at most 2.5–5.8 ms at 10,000 users on SQLite when every full
 * name went through a JavaScript function; ASCII text now tests them with SQLite's lower()), and a walk takes a
 * tenth of the queries it took at 250: a walk through 10,000 users went from 12–13 to 7 ms on SQLite and from 31–39
 * to 10–16 ms on Postgres, where every query is a round trip.
 */
const USER_WALK_CHUNK = 2500;

/**
 * Admin listing: newest first; `q` matches username, e-mail or full name, case-insensitively and literally
 * (db.usersSearch): usernames and e-mails are compared as stored for comparison (username keys; e-mails,
 * lower-cased when saved), with `q` folded the same way; full names in any script, folded by the database. Text
 * of three characters or more is read from the users' trigram indexes unless the newest users already fill the page
 * (searchNewestFirst).
 */
export async function listUsers(deps: Deps, filter: UserFilter): Promise<Page<User>> {
  const { db } = deps;
  const { users } = db.tables;
  const { q } = filter;
  const base = and(filter.role ? eq(users.role, filter.role) : undefined, filter.isActive === undefined ? undefined : eq(users.isActive, filter.isActive));
  if (!q) {
    const key = decodeCursor(filter.cursor);
    const shape: UserListShape = { role: filter.role ?? 'any', active: filter.isActive ?? 'any', cursor: key !== undefined, skip: filter.skip > 0 };
    const { page, total } = userListStatements(db, shape);
    const values = pageValues(filter, key);
    return toCountedPage(await page.execute(values), filter, async () => (await total.execute(values))[0].n);
  }
  const newestFirst = [desc(users.createdAt), desc(users.id)];
  return searchNewestFirst(
    db,
    users,
    base,
    db.usersSearch(q),
    filter,
    {
      walked: (ids) => db.orm.select(userColumns(users)).from(users).where(inArray(users.id, ids)).orderBy(...newestFirst),
      indexed: (ids, total) => db.orm.select({ ...userColumns(users), total }).from(users).where(inArray(users.id, ids)).orderBy(...newestFirst),
    },
    { chunk: USER_WALK_CHUNK },
  );
}

/** Which statement a users.list without `q` runs: its filters and where its page starts. */
type UserListShape = { role: Role | 'any'; active: boolean | 'any'; cursor: boolean; skip: boolean };

/** A list of this shape's statements (newestFirstStatements), its filters as constants (fixedValue). */
function userListStatements(db: Database, shape: UserListShape) {
  const name = `users_list_${shape.role}_${shape.active === 'any' ? 'any' : shape.active ? 'active' : 'inactive'}_${shape.cursor ? 'after' : 'first'}_${shape.skip ? 'skip' : 'top'}`;
  return newestFirstStatements(db, name, shape, ({ users }) => users, ({ users }) => userColumns(users), ({ users }) =>
    and(shape.role === 'any' ? undefined : fixedValue(users.role, shape.role, ROLES), shape.active === 'any' ? undefined : fixedValue(users.isActive, shape.active, [true, false])),
  );
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
