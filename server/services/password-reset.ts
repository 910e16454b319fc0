// Password reset through the API: the request always answers ok (a job mails the token); the reset itself.
import { and, eq, gt, isNull } from 'drizzle-orm';
import { passwordResetJob } from '../../jobs/definitions/password-reset-email.ts';
import type { Deps } from '../deps.ts';
import { assertPasswordNotIdentity } from './password-checks.ts';
import { AppError } from '../errors.ts';
import { hashPassword } from './passwords.ts';
import { endCredentials } from './credentials.ts';
import { hashToken } from './tokens.ts';

/**
 * Queues the reset e-mail whatever the address: whether an account exists is decided by the job, so the
 * answer and its timing are the same for every address. Limited per address (and per IP by the router).
 */
export async function requestPasswordReset(deps: Deps, email: string): Promise<void> {
  const budget = await deps.rateLimits.consume('passwordResetEmail', email);
  if (!budget.allowed) {
    throw new AppError('TOO_MANY_REQUESTS', 'too many password reset requests for this address; try again later', {
      retryAfterSeconds: budget.resetSeconds,
      limit: budget.limit,
    });
  }
  await deps.queue.send(passwordResetJob, { email });
}

const invalidToken = () => new AppError('BAD_REQUEST', 'invalid or expired token', { fieldErrors: { token: ['invalid or expired token'] } });

/**
 * Sets the new password, ends every session and API token of the user, and uses up this and any other reset token.
 * Refused as an invalid token when the account has been deactivated since the token was mailed.
 */
export async function resetPassword(deps: Deps, input: { token: string; newPassword: string }): Promise<void> {
  const { users, passwordResetTokens } = deps.db.tables;
  const now = deps.clock.now();
  const [row] = await deps.db.orm
    .select({ id: passwordResetTokens.id, userId: users.id, username: users.username, email: users.email })
    .from(passwordResetTokens)
    .innerJoin(users, eq(users.id, passwordResetTokens.userId))
    // An account deactivated since the token was mailed has no valid tokens: an admin's deactivation stands.
    .where(
      and(eq(passwordResetTokens.tokenHash, hashToken(input.token)), isNull(passwordResetTokens.usedAt), gt(passwordResetTokens.expiresAt, now), eq(users.isActive, true)),
    );
  if (!row) throw invalidToken();
  assertPasswordNotIdentity(input.newPassword, row, 'newPassword');
  const passwordHash = await hashPassword(input.newPassword);
  await deps.db.transaction(async (tx) => {
    // Taking the token is the guard: of two concurrent resets with one token, one finds it used.
    const [taken] = await tx
      .update(passwordResetTokens)
      .set({ usedAt: now })
      .where(and(eq(passwordResetTokens.id, row.id), isNull(passwordResetTokens.usedAt)))
      .returning({ id: passwordResetTokens.id });
    if (!taken) throw invalidToken();
    // Still active now, in the same transaction as the change: a deactivation in between wins.
    const [changed] = await tx
      .update(users)
      .set({ passwordHash, updatedAt: now })
      .where(and(eq(users.id, row.userId), eq(users.isActive, true)))
      .returning({ id: users.id });
    if (!changed) throw invalidToken();
    await endCredentials(deps, row.userId, { db: tx });
  });
}
