// What the e-mail jobs do: each send is claimed by its job attempt, bounded in time, and recorded, so a retried
// or overlapping attempt neither mails twice nor breaks a link already mailed.
import { and, eq, isNotNull, isNull, lt, or } from 'drizzle-orm';
import type { JobContext } from '../../jobs/define.ts';
import type { Deps } from '../deps.ts';
import { MailError } from '../mail/mail-error.ts';
import { passwordResetEmail, setPasswordEmail, welcomeEmail } from '../mail/templates.ts';
import { generateToken, hashToken } from './tokens.ts';

/** How long a mailed reset token works. */
export const RESET_TOKEN_LIFETIME_MS = 60 * 60 * 1000;

/** What an e-mail job needs of its attempt. */
export type SendAttempt = Pick<JobContext, 'id' | 'retryCount' | 'signal' | 'expireInSeconds'>;

/**
 * A send's total deadline: well inside the job's expiry (a third of it, at most 30 s, is left over), so an
 * attempt has given up on its send before pg-boss hands the job to another attempt.
 */
export const sendDeadlineMs = (job: Pick<SendAttempt, 'expireInSeconds'>) => {
  const expiry = job.expireInSeconds * 1000;
  return Math.max(1_000, Math.round(expiry - Math.min(30_000, expiry / 3)));
};

/**
 * The welcome e-mail of a new account; a no-op for a deleted user or one already welcomed. The attempt claims
 * the send before sending; another attempt may take the claim over only once it is older than the job's expiry
 * (by then the claimant's deadline has passed). A send the server may have accepted counts as sent: at most one
 * welcome e-mail, rather than a second one.
 */
export async function sendWelcomeEmail(deps: Deps, userId: string, job: SendAttempt): Promise<void> {
  const { users } = deps.db.tables;
  const claim = `${job.id}:${job.retryCount}`;
  const now = deps.clock.now();
  const staleBefore = new Date(now.getTime() - job.expireInSeconds * 1000);
  const [user] = await deps.db.orm
    .update(users)
    .set({ welcomeEmailClaim: claim, welcomeEmailClaimedAt: now })
    .where(and(eq(users.id, userId), isNull(users.welcomeEmailSentAt), or(isNull(users.welcomeEmailClaimedAt), lt(users.welcomeEmailClaimedAt, staleBefore))))
    .returning({ email: users.email, username: users.username, fullName: users.fullName });
  if (!user) {
    const [row] = await deps.db.orm.select({ sentAt: users.welcomeEmailSentAt }).from(users).where(eq(users.id, userId));
    if (!row || row.sentAt) return;
    throw new Error('another attempt of this job is sending the welcome e-mail; trying again later');
  }
  const mine = and(eq(users.id, userId), eq(users.welcomeEmailClaim, claim));
  try {
    // Keyed by the account: a resend after a crash between sending and recording it is the same message.
    await deps.mailer.send({ ...welcomeEmail(user), key: `welcome-${userId}` }, { signal: job.signal, deadlineMs: sendDeadlineMs(job) });
  } catch (error) {
    if (error instanceof MailError && error.mayHaveBeenDelivered) {
      deps.logger.warn({ err: error, userId, jobId: job.id }, 'the welcome e-mail may have been delivered (the server never answered): it is not sent again');
      await deps.db.orm.update(users).set({ welcomeEmailSentAt: deps.clock.now() }).where(and(mine, isNull(users.welcomeEmailSentAt)));
      return;
    }
    // Certainly not delivered: the claim goes, so the retry sends at once.
    await deps.db.orm.update(users).set({ welcomeEmailClaim: null, welcomeEmailClaimedAt: null }).where(and(mine, isNull(users.welcomeEmailSentAt)));
    throw error;
  }
  await deps.db.orm
    .update(users)
    .set({ welcomeEmailSentAt: deps.clock.now() })
    .where(and(eq(users.id, userId), isNull(users.welcomeEmailSentAt)));
}

/**
 * The job: for an active account with this address, makes a token and mails it, once per attempt at most.
 * A retry adds a token of its own and never replaces an earlier one, whose mail may have arrived (a worker can
 * die between the server's acceptance and the record of it): every link mailed works until one of the
 * account's tokens is used, which uses them all up. Nothing is mailed once an attempt recorded its send.
 */
export async function sendPasswordResetEmail(deps: Deps, email: string, job: SendAttempt, purpose: 'reset' | 'set' = 'reset'): Promise<void> {
  const { users, passwordResetTokens } = deps.db.tables;
  const [user] = await deps.db.orm
    .select({ id: users.id, email: users.email, username: users.username })
    .from(users)
    .where(and(eq(users.email, email), eq(users.isActive, true)));
  if (!user) return;
  const [sent] = await deps.db.orm
    .select({ id: passwordResetTokens.id })
    .from(passwordResetTokens)
    .where(and(eq(passwordResetTokens.jobId, job.id), isNotNull(passwordResetTokens.emailSentAt)))
    .limit(1);
  if (sent) return;

  const token = generateToken();
  const now = deps.clock.now();
  const expiresAt = new Date(now.getTime() + RESET_TOKEN_LIFETIME_MS);
  const [mine] = await deps.db.orm
    .insert(passwordResetTokens)
    .values({ userId: user.id, tokenHash: hashToken(token), jobId: job.id, attempt: job.retryCount, createdAt: now, expiresAt })
    .onConflictDoNothing()
    .returning({ id: passwordResetTokens.id });
  // This attempt made its token (and its one send) already.
  if (!mine) return;
  const recordSent = () => deps.db.orm.update(passwordResetTokens).set({ emailSentAt: deps.clock.now() }).where(eq(passwordResetTokens.id, mine.id));
  try {
    await deps.mailer.send((purpose === 'set' ? setPasswordEmail : passwordResetEmail)(user, { url: deps.config.PASSWORD_RESET_URL, token, expiresAt }), { signal: job.signal, deadlineMs: sendDeadlineMs(job) });
  } catch (error) {
    if (error instanceof MailError && error.mayHaveBeenDelivered) {
      deps.logger.warn({ err: error, userId: user.id, jobId: job.id }, 'the password reset e-mail may have been delivered (the server never answered): it is not sent again');
      await recordSent();
      return;
    }
    throw error;
  }
  await recordSent();
}
