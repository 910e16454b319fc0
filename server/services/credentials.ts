// Ending what vouches for an account when its password or e-mail changes: sessions, API tokens, reset tokens.
import { and, eq, isNull } from 'drizzle-orm';
import type { Executor } from '../../db/index.ts';
import type { Deps } from '../deps.ts';
import { deleteUserSessions } from './sessions.ts';

/** Marks every unused password-reset token of the account used: a mailed link must not outlive the change. */
export async function useUpResetTokens(deps: Deps, userId: string, db: Executor = deps.db.orm): Promise<void> {
  const { passwordResetTokens } = deps.db.tables;
  await db
    .update(passwordResetTokens)
    .set({ usedAt: deps.clock.now() })
    .where(and(eq(passwordResetTokens.userId, userId), isNull(passwordResetTokens.usedAt)));
}

/**
 * After a new password: every session but `exceptSessionId` ends, every API token is revoked (whoever held the
 * old password could have made one), and outstanding reset tokens are used up.
 */
export async function endCredentials(deps: Deps, userId: string, options: { exceptSessionId?: string; db: Executor }): Promise<void> {
  const { db, exceptSessionId } = options;
  await deleteUserSessions(deps, userId, { exceptId: exceptSessionId, db });
  await db.delete(deps.db.tables.apiTokens).where(eq(deps.db.tables.apiTokens.userId, userId));
  await useUpResetTokens(deps, userId, db);
}
