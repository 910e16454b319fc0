// API tokens: long-lived bearer credentials for programs, shown once, stored as a hash with a visible prefix.
import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import type { Database } from '../../db/index.ts';
import type { Deps } from '../deps.ts';
import { notFound } from '../errors.ts';
import type { Role, User } from '../schemas.ts';
import { ID_CHUNK, LAST_USED_GRANULARITY_MS } from './sessions.ts';
import { generateToken, hashToken } from './tokens.ts';
import { userColumns } from './user-columns.ts';

/** Marks API tokens so a bearer credential is routed to the right table (session tokens never start so). */
export const API_TOKEN_MARK = 'abs_';
const PREFIX_LENGTH = API_TOKEN_MARK.length + 8;
const DAY_MS = 24 * 60 * 60 * 1000;

export const isApiToken = (token: string): boolean => token.startsWith(API_TOKEN_MARK);

export type ApiTokenInfo = { id: string; name: string; prefix: string; createdAt: Date; lastUsedAt: Date | null; expiresAt: Date | null };

export async function createApiToken(
  deps: Deps,
  userId: string,
  input: { name: string; expiresInDays?: number | undefined },
): Promise<ApiTokenInfo & { token: string }> {
  const token = `${API_TOKEN_MARK}${generateToken()}`;
  const now = deps.clock.now();
  const { apiTokens } = deps.db.tables;
  const [row] = await deps.db.orm
    .insert(apiTokens)
    .values({
      userId,
      name: input.name,
      tokenHash: hashToken(token),
      prefix: token.slice(0, PREFIX_LENGTH),
      createdAt: now,
      expiresAt: input.expiresInDays ? new Date(now.getTime() + input.expiresInDays * DAY_MS) : null,
    })
    .returning({ id: apiTokens.id, name: apiTokens.name, prefix: apiTokens.prefix, createdAt: apiTokens.createdAt, lastUsedAt: apiTokens.lastUsedAt, expiresAt: apiTokens.expiresAt });
  return { ...row, token };
}

export async function listApiTokens(deps: Deps, userId: string): Promise<ApiTokenInfo[]> {
  const { apiTokens } = deps.db.tables;
  return deps.db.orm
    .select({ id: apiTokens.id, name: apiTokens.name, prefix: apiTokens.prefix, createdAt: apiTokens.createdAt, lastUsedAt: apiTokens.lastUsedAt, expiresAt: apiTokens.expiresAt })
    .from(apiTokens)
    .where(eq(apiTokens.userId, userId))
    .orderBy(desc(apiTokens.createdAt), apiTokens.id);
}

export async function revokeApiToken(deps: Deps, userId: string, id: string): Promise<void> {
  const { apiTokens } = deps.db.tables;
  const [deleted] = await deps.db.orm
    .delete(apiTokens)
    .where(and(eq(apiTokens.id, id), eq(apiTokens.userId, userId)))
    .returning({ id: apiTokens.id });
  if (!deleted) throw notFound('API token');
}

export type ValidApiToken = { id: string; user: User };

const apiTokenWithUser = (db: Database) =>
  db.prepared('api_token_with_user', (orm, { apiTokens, users }) =>
    orm
      .select({ id: apiTokens.id, expiresAt: apiTokens.expiresAt, lastUsedAt: apiTokens.lastUsedAt, user: userColumns(users) })
      .from(apiTokens)
      .innerJoin(users, eq(users.id, apiTokens.userId))
      .where(eq(apiTokens.tokenHash, sql.placeholder('hash'))),
  );

/** The one rule for an API token that no longer vouches for its owner (validation and live checks share it). */
export const apiTokenExpired = (row: { expiresAt: Date | null }, now: number): boolean => row.expiresAt !== null && now >= row.expiresAt.getTime();

/** Of these API token ids, those that still vouch for an active user, with the user's role (the live streams' check). */
export async function liveApiTokenRoles(deps: Pick<Deps, 'db' | 'clock'>, ids: readonly string[]): Promise<Map<string, Role>> {
  const { apiTokens, users } = deps.db.tables;
  const now = deps.clock.now().getTime();
  const roles = new Map<string, Role>();
  for (let i = 0; i < ids.length; i += ID_CHUNK) {
    const rows = await deps.db.orm
      .select({ id: apiTokens.id, expiresAt: apiTokens.expiresAt, role: users.role, isActive: users.isActive })
      .from(apiTokens)
      .innerJoin(users, eq(users.id, apiTokens.userId))
      .where(inArray(apiTokens.id, ids.slice(i, i + ID_CHUNK)));
    for (const row of rows) if (row.isActive && !apiTokenExpired(row, now)) roles.set(row.id, row.role);
  }
  return roles;
}

/** The token's owner in one query; null when unknown or expired. */
export async function validateApiToken(deps: Deps, token: string): Promise<ValidApiToken | null> {
  const { apiTokens } = deps.db.tables;
  const [row] = await apiTokenWithUser(deps.db).execute({ hash: hashToken(token) });
  if (!row) return null;
  const now = deps.clock.now();
  if (apiTokenExpired(row, now.getTime())) return null;
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_GRANULARITY_MS) {
    await deps.db.orm.update(apiTokens).set({ lastUsedAt: now }).where(eq(apiTokens.id, row.id));
  }
  return { id: row.id, user: row.user };
}
