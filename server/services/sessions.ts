// Lucia-style database sessions: create, validate (one round trip, sliding expiry), list and end.
import { and, eq, inArray, ne, sql } from 'drizzle-orm';
import type { Database, Executor } from '../../db/index.ts';
import type { Deps } from '../deps.ts';
import { notFound } from '../errors.ts';
import type { Role, User } from '../schemas.ts';
import { generateToken, hashToken } from './tokens.ts';
import { userColumns } from './user-columns.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
/** A session unused this long expires… */
export const SESSION_INACTIVITY_MS = 30 * DAY_MS;
/** …and is pushed forward when less than this remains. */
export const SESSION_RENEW_WITHIN_MS = 15 * DAY_MS;
/** lastUsedAt is written at most this often per session, so reads stay reads. */
export const LAST_USED_GRANULARITY_MS = 5 * 60 * 1000;

export type NewSession = { token: string; id: string; expiresAt: Date };

/** Starts a session for a user; the caller gets the token, the database only its hash. */
export async function createSession(
  deps: Deps,
  input: { userId: string; userAgent: string | null; ip: string | null },
  db: Executor = deps.db.orm,
): Promise<NewSession> {
  const token = generateToken();
  const now = deps.clock.now();
  const absoluteExpiresAt = new Date(now.getTime() + deps.config.SESSION_ABSOLUTE_LIFETIME_DAYS * DAY_MS);
  const expiresAt = new Date(Math.min(now.getTime() + SESSION_INACTIVITY_MS, absoluteExpiresAt.getTime()));
  const id = hashToken(token);
  await db.insert(deps.db.tables.sessions).values({
    id,
    userId: input.userId,
    createdAt: now,
    lastUsedAt: now,
    expiresAt,
    absoluteExpiresAt,
    userAgent: input.userAgent?.slice(0, 500) ?? null,
    ip: input.ip,
  });
  return { token, id, expiresAt };
}

export type ValidSession = {
  id: string;
  publicId: string;
  expiresAt: Date;
  /** True when this validation pushed the expiry forward (a cookie should be re-sent). */
  renewed: boolean;
  user: User;
};

/** Every request with a session runs this, so it is built once per database. */
const sessionWithUser = (db: Database) =>
  db.prepared('session_with_user', (orm, { sessions, users }) =>
    orm
      .select({
        publicId: sessions.publicId,
        expiresAt: sessions.expiresAt,
        absoluteExpiresAt: sessions.absoluteExpiresAt,
        lastUsedAt: sessions.lastUsedAt,
        user: userColumns(users),
      })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(eq(sessions.id, sql.placeholder('id'))),
  );

/** Ids per `IN (…)` list: well under SQLite's and Postgres' parameter limits. */
export const ID_CHUNK = 500;

/** The one rule for a session that no longer vouches for its user (token validation and live checks share it). */
export const sessionExpired = (row: { expiresAt: Date; absoluteExpiresAt: Date }, now: number): boolean =>
  now >= row.expiresAt.getTime() || now >= row.absoluteExpiresAt.getTime();

/** Of these session ids, those that still vouch for an active user, with the user's role (the live streams' check). */
export async function liveSessionRoles(deps: Pick<Deps, 'db' | 'clock'>, ids: readonly string[]): Promise<Map<string, Role>> {
  const { sessions, users } = deps.db.tables;
  const now = deps.clock.now().getTime();
  const roles = new Map<string, Role>();
  for (let i = 0; i < ids.length; i += ID_CHUNK) {
    const rows = await deps.db.orm
      .select({ id: sessions.id, expiresAt: sessions.expiresAt, absoluteExpiresAt: sessions.absoluteExpiresAt, role: users.role, isActive: users.isActive })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(inArray(sessions.id, ids.slice(i, i + ID_CHUNK)));
    for (const row of rows) if (row.isActive && !sessionExpired(row, now)) roles.set(row.id, row.role);
  }
  return roles;
}

/** The session and its user for a token, in one query; null when unknown or expired (expired ones are deleted). */
export async function validateSessionToken(deps: Deps, token: string): Promise<ValidSession | null> {
  const { orm, tables } = deps.db;
  const { sessions } = tables;
  const id = hashToken(token);
  const [row] = await sessionWithUser(deps.db).execute({ id });
  if (!row) return null;
  const now = deps.clock.now().getTime();
  if (sessionExpired(row, now)) {
    await orm.delete(sessions).where(eq(sessions.id, id));
    return null;
  }
  const renew = row.expiresAt.getTime() - now < SESSION_RENEW_WITHIN_MS;
  const touch = now - row.lastUsedAt.getTime() >= LAST_USED_GRANULARITY_MS;
  let expiresAt = row.expiresAt;
  if (renew || touch) {
    if (renew) expiresAt = new Date(Math.min(now + SESSION_INACTIVITY_MS, row.absoluteExpiresAt.getTime()));
    await orm.update(sessions).set({ expiresAt, lastUsedAt: new Date(now) }).where(eq(sessions.id, id));
  }
  return { id, publicId: row.publicId, expiresAt, renewed: renew, user: row.user };
}

export async function deleteSession(deps: Deps, id: string): Promise<void> {
  await deps.db.orm.delete(deps.db.tables.sessions).where(eq(deps.db.tables.sessions.id, id));
}

/** Ends every session of a user, or every one but `exceptId`. */
export async function deleteUserSessions(deps: Deps, userId: string, options: { exceptId?: string; db?: Executor } = {}): Promise<void> {
  const { sessions } = deps.db.tables;
  const { exceptId, db = deps.db.orm } = options;
  await db.delete(sessions).where(exceptId ? and(eq(sessions.userId, userId), ne(sessions.id, exceptId)) : eq(sessions.userId, userId));
}

export type SessionInfo = {
  id: string;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  userAgent: string | null;
  ip: string | null;
  current: boolean;
};

/** A user's sessions, newest first, identified by their public id. */
export async function listSessions(deps: Deps, userId: string, currentId: string | null): Promise<SessionInfo[]> {
  const { sessions } = deps.db.tables;
  const rows = await deps.db.orm
    .select({
      id: sessions.id,
      publicId: sessions.publicId,
      createdAt: sessions.createdAt,
      lastUsedAt: sessions.lastUsedAt,
      expiresAt: sessions.expiresAt,
      userAgent: sessions.userAgent,
      ip: sessions.ip,
    })
    .from(sessions)
    .where(eq(sessions.userId, userId))
    .orderBy(sessions.createdAt);
  const now = deps.clock.now().getTime();
  return rows
    .filter((row) => row.expiresAt.getTime() > now)
    .reverse()
    .map(({ id, publicId, ...rest }) => ({ ...rest, id: publicId, current: id === currentId }));
}

/** Ends one of the user's own sessions by its public id; returns whether it was the caller's current one. */
export async function revokeSession(deps: Deps, userId: string, publicId: string, currentId: string | null): Promise<{ wasCurrent: boolean }> {
  const { sessions } = deps.db.tables;
  const [deleted] = await deps.db.orm
    .delete(sessions)
    .where(and(eq(sessions.userId, userId), eq(sessions.publicId, publicId)))
    .returning({ id: sessions.id });
  if (!deleted) throw notFound('session');
  return { wasCurrent: deleted.id === currentId };
}
