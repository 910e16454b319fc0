// What the e-mail jobs do: each send is recorded, so a retried job does not mail twice.
import { and, eq, isNull } from 'drizzle-orm';
import type { Deps } from '../deps.ts';
import { passwordResetEmail, welcomeEmail } from '../mail/templates.ts';
import { generateToken, hashToken } from './tokens.ts';

/** How long a mailed reset token works. */
export const RESET_TOKEN_LIFETIME_MS = 60 * 60 * 1000;

/** The welcome e-mail of a new account; a no-op for a deleted user or one already welcomed. */
export async function sendWelcomeEmail(deps: Deps, userId: string): Promise<void> {
  const { users } = deps.db.tables;
  const [user] = await deps.db.orm
    .select({ email: users.email, username: users.username, fullName: users.fullName, sentAt: users.welcomeEmailSentAt })
    .from(users)
    .where(eq(users.id, userId));
  if (!user || user.sentAt) return;
  // Keyed by the account: a retry after a crash between sending and recording it resends the same message.
  await deps.mailer.send({ ...welcomeEmail(user), key: `welcome-${userId}` });
  await deps.db.orm
    .update(users)
    .set({ welcomeEmailSentAt: deps.clock.now() })
    .where(and(eq(users.id, userId), isNull(users.welcomeEmailSentAt)));
}

/**
 * The job: for an active account with this address, makes a token and mails it. A retry of the same job
 * replaces its token rather than mailing a second one, and does nothing once the e-mail went out.
 */
export async function sendPasswordResetEmail(deps: Deps, email: string, jobId: string): Promise<void> {
  const { users, passwordResetTokens } = deps.db.tables;
  const [user] = await deps.db.orm
    .select({ id: users.id, email: users.email, username: users.username })
    .from(users)
    .where(and(eq(users.email, email), eq(users.isActive, true)));
  if (!user) return;
  const [existing] = await deps.db.orm
    .select({ id: passwordResetTokens.id, emailSentAt: passwordResetTokens.emailSentAt })
    .from(passwordResetTokens)
    .where(eq(passwordResetTokens.jobId, jobId));
  if (existing?.emailSentAt) return;

  const token = generateToken();
  const now = deps.clock.now();
  const expiresAt = new Date(now.getTime() + RESET_TOKEN_LIFETIME_MS);
  if (existing) {
    await deps.db.orm.update(passwordResetTokens).set({ tokenHash: hashToken(token), createdAt: now, expiresAt }).where(eq(passwordResetTokens.id, existing.id));
  } else {
    await deps.db.orm.insert(passwordResetTokens).values({ userId: user.id, tokenHash: hashToken(token), jobId, createdAt: now, expiresAt });
  }
  await deps.mailer.send(passwordResetEmail(user, { url: deps.config.PASSWORD_RESET_URL, token, expiresAt }));
  await deps.db.orm.update(passwordResetTokens).set({ emailSentAt: deps.clock.now() }).where(eq(passwordResetTokens.jobId, jobId));
}

