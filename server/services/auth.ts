// Registration, login, password changes, and turning a bearer credential into the caller's identity.
import { eq } from 'drizzle-orm';
import { welcomeEmailJob } from '../../jobs/definitions/welcome-email.ts';
import type { Deps } from '../deps.ts';
import { AppError } from '../errors.ts';
import type { User } from '../schemas.ts';
import { isApiToken, validateApiToken } from './api-tokens.ts';
import { hashPassword, verifyNothing, verifyPassword } from './passwords.ts';
import { createSession, deleteUserSessions, validateSessionToken, type NewSession } from './sessions.ts';
import { rethrowUserConflict, userColumns } from './users.ts';

export type ClientInfo = { ip: string | null; userAgent: string | null };
export type LoggedIn = { user: User; session: NewSession };

/** A password equal to the username or e-mail (ignoring case) is refused, as the first guess of any attacker. */
export function assertPasswordNotIdentity(password: string, identity: { username: string; email: string }, field: string): void {
  const lowered = password.toLowerCase();
  if (lowered === identity.username.toLowerCase() || lowered === identity.email.toLowerCase()) {
    const message = 'must not be your username or e-mail address';
    throw new AppError('BAD_REQUEST', `${field} ${message}`, { fieldErrors: { [field]: [message] } });
  }
}

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
 * Checks a password and starts a new session. Unknown users and wrong passwords fail alike, in the same time;
 * after RATE_LIMIT_LOGIN_FAILURES_PER_MINUTE failures for one account from one address, even the right
 * password waits for the window to pass.
 */
export async function login(deps: Deps, input: { usernameOrEmail: string; password: string }, client: ClientInfo): Promise<LoggedIn> {
  const identifier = input.usernameOrEmail.trim().toLowerCase();
  const failureKey = `${client.ip ?? 'unknown'}|${identifier}`;
  const budget = await deps.rateLimits.peek('loginFailures', failureKey);
  if (!budget.allowed) {
    throw new AppError('TOO_MANY_REQUESTS', 'too many failed login attempts; try again later', {
      retryAfterSeconds: budget.resetSeconds,
      limit: budget.limit,
    });
  }

  const { users } = deps.db.tables;
  const [row] = await deps.db.orm
    .select({ ...userColumns(users), passwordHash: users.passwordHash })
    .from(users)
    .where(identifier.includes('@') ? eq(users.email, identifier) : eq(deps.db.lower(users.username), identifier));
  const valid = row ? await verifyPassword(row.passwordHash, input.password) : await verifyNothing(input.password);
  if (!row || !valid) {
    await deps.rateLimits.consume('loginFailures', failureKey);
    throw invalidCredentials();
  }
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

/** Sets a new password after checking the current one; every other session of the user ends. */
export async function changePassword(
  deps: Deps,
  user: Pick<User, 'id' | 'username' | 'email'>,
  currentSessionId: string,
  input: { currentPassword: string; newPassword: string },
): Promise<void> {
  const { users } = deps.db.tables;
  const [row] = await deps.db.orm.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, user.id));
  if (!row || !(await verifyPassword(row.passwordHash, input.currentPassword))) {
    throw new AppError('BAD_REQUEST', 'current password is incorrect', { fieldErrors: { currentPassword: ['current password is incorrect'] } });
  }
  assertPasswordNotIdentity(input.newPassword, user, 'newPassword');
  const passwordHash = await hashPassword(input.newPassword);
  await deps.db.transaction(async (tx) => {
    await tx.update(users).set({ passwordHash, updatedAt: deps.clock.now() }).where(eq(users.id, user.id));
    await deleteUserSessions(deps, user.id, { exceptId: currentSessionId, db: tx });
  });
}
