// Password checks: a signed-in user's password before a sensitive change, within per-account and per-IP budgets,
// and what a new password may not be.
import { eq } from 'drizzle-orm';
import type { Deps } from '../deps.ts';
import { AppError } from '../errors.ts';
import { verifyPassword } from './passwords.ts';

/**
 * Verifies the account's password for a change that asks for it again (a new password, a new e-mail, deleting
 * the account). Each verification first spends one unit of RATE_LIMIT_PASSWORD_CHECKS_PER_MINUTE for the
 * account and one for the client address, right or wrong: a stolen session cannot guess the password without
 * limit, nor a batch of calls make the server hash without limit.
 */
export async function verifyAccountPassword(
  deps: Deps,
  who: { userId: string; ip: string | null },
  password: string,
  wrong: { field: string; message: string },
): Promise<void> {
  const { rateLimits } = deps;
  const budgets = await Promise.all([rateLimits.consume('passwordChecks', `user:${who.userId}`), rateLimits.consume('passwordChecks', `ip:${rateLimits.ipKey(who.ip)}`)]);
  const spent = budgets.find((budget) => !budget.allowed);
  if (spent) {
    throw new AppError('TOO_MANY_REQUESTS', 'too many password attempts; try again later', { retryAfterSeconds: spent.resetSeconds, limit: spent.limit });
  }
  const { users } = deps.db.tables;
  const [row] = await deps.db.orm.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, who.userId));
  if (!row || !(await verifyPassword(row.passwordHash, password))) {
    throw new AppError('BAD_REQUEST', wrong.message, { fieldErrors: { [wrong.field]: [wrong.message] } });
  }
}

/** A password equal to the username or e-mail (ignoring case) is refused, as the first guess of any attacker. */
export function assertPasswordNotIdentity(password: string, identity: { username: string; email: string }, field: string): void {
  const lowered = password.toLowerCase();
  if (lowered === identity.username.toLowerCase() || lowered === identity.email.toLowerCase()) {
    const message = 'must not be your username or e-mail address';
    throw new AppError('BAD_REQUEST', `${field} ${message}`, { fieldErrors: { [field]: [message] } });
  }
}
