// Registration, login, password changes, and turning a bearer credential into the caller's identity.
import { eq } from 'drizzle-orm';
import { usernameKey } from '../../db/index.ts';
import { welcomeEmailJob } from '../../jobs/definitions/welcome-email.ts';
import type { Deps } from '../deps.ts';
import { AppError } from '../errors.ts';
import type { User } from '../schemas.ts';
import { isApiToken, validateApiToken } from './api-tokens.ts';
import { hashPassword, verifyNothing, verifyPassword } from './passwords.ts';
import { endCredentials } from './credentials.ts';
import { assertPasswordNotIdentity, verifyAccountPassword } from './password-checks.ts';
import { createSession, validateSessionToken, type NewSession } from './sessions.ts';
import { rethrowUserConflict, userColumns } from './user-columns.ts';

export type ClientInfo = { ip: string | null; userAgent: string | null };
export type LoggedIn = { user: User; session: NewSession };

export async function register(
  deps: Deps,
  input: { username: string; email: string; password: string; fullName?: string | undefined },
  client: ClientInfo,
): Promise<LoggedIn> {
  assertPasswordNotIdentity(input.password, input, 'password');
  const passwordHash = await hashPassword(input.password);
  const { users } = deps.db.tables;
  const now = deps.clock.now();
  // The welcome e-mail commits with the account (in pg-boss, or in the job outbox when the jobs live elsewhere).
  return deps.queue
    .transaction(async (tx, enqueue) => {
      const [user] = await tx
        .insert(users)
        .values({ username: input.username, email: input.email, fullName: input.fullName ?? null, passwordHash, createdAt: now, updatedAt: now })
        .returning(userColumns(users));
      const session = await createSession(deps, { userId: user.id, ...client }, tx);
      await enqueue(welcomeEmailJob, { userId: user.id });
      return { user, session };
    })
    .catch(rethrowUserConflict);
}

const invalidCredentials = () => new AppError('UNAUTHORIZED', 'invalid username or password');

/**
 * Checks a password and starts a new session. Unknown users and wrong passwords fail alike, in the same time.
 * Each attempt first spends one unit of RATE_LIMIT_LOGIN_FAILURES_PER_MINUTE for the client address and the
 * account (whichever of its names was typed), and a success gives the budget back: parallel guesses cannot slip
 * past the check, and once the budget is spent even the right password waits for the window to pass.
 */
export async function login(deps: Deps, input: { usernameOrEmail: string; password: string }, client: ClientInfo): Promise<LoggedIn> {
  const identifier = input.usernameOrEmail.trim().toLowerCase();
  const { users } = deps.db.tables;
  const [row] = await deps.db.orm
    .select({ ...userColumns(users), passwordHash: users.passwordHash })
    .from(users)
    // Usernames by their key alone (A–Z folded, nothing else): JavaScript's and the database's lower() disagree.
    .where(identifier.includes('@') ? eq(users.email, identifier) : eq(users.usernameKey, usernameKey(input.usernameOrEmail.trim())));
  const failureKey = `${deps.rateLimits.ipKey(client.ip)}|${row ? `user:${row.id}` : `name:${identifier}`}`;
  const budget = await deps.rateLimits.consume('loginFailures', failureKey);
  if (!budget.allowed) {
    throw new AppError('TOO_MANY_REQUESTS', 'too many failed login attempts; try again later', {
      retryAfterSeconds: budget.resetSeconds,
      limit: budget.limit,
    });
  }
  const valid = row ? await verifyPassword(row.passwordHash, input.password) : await verifyNothing(input.password);
  if (!row || !valid) throw invalidCredentials();
  // The right password: this attempt's unit and earlier failures are given back.
  await deps.rateLimits.reset('loginFailures', failureKey);
  const { passwordHash: _hash, ...user } = row;
  if (!user.isActive) throw new AppError('FORBIDDEN', 'account is inactive');
  const session = await createSession(deps, { userId: user.id, ...client });
  return { user, session };
}

export type Authenticated =
  | { kind: 'session'; user: User; session: { id: string; publicId: string; expiresAt: Date; renewed: boolean } }
  | { kind: 'apiToken'; user: User; apiTokenId: string };

/** Who a bearer token (or session cookie) belongs to; null when it is unknown, expired or revoked. */
export async function authenticate(deps: Deps, token: string): Promise<Authenticated | null> {
  if (token.length === 0 || token.length > 200) return null;
  if (isApiToken(token)) {
    const valid = await validateApiToken(deps, token);
    return valid && { kind: 'apiToken', user: valid.user, apiTokenId: valid.id };
  }
  const valid = await validateSessionToken(deps, token);
  if (!valid) return null;
  const { user, ...session } = valid;
  return { kind: 'session', user, session };
}

/**
 * Sets a new password after checking the current one (within the password-check budgets). Every other session of
 * the user ends, every API token is revoked, and outstanding reset tokens are used up.
 */
export async function changePassword(
  deps: Deps,
  user: Pick<User, 'id' | 'username' | 'email'>,
  current: { sessionId: string; ip: string | null },
  input: { currentPassword: string; newPassword: string },
): Promise<void> {
  await verifyAccountPassword(deps, { userId: user.id, ip: current.ip }, input.currentPassword, { field: 'currentPassword', message: 'current password is incorrect' });
  assertPasswordNotIdentity(input.newPassword, user, 'newPassword');
  const passwordHash = await hashPassword(input.newPassword);
  const { users } = deps.db.tables;
  await deps.db.transaction(async (tx) => {
    await tx.update(users).set({ passwordHash, updatedAt: deps.clock.now() }).where(eq(users.id, user.id));
    await endCredentials(deps, user.id, { exceptSessionId: current.sessionId, db: tx });
  });
}
