// E-mail jobs on both dialects, through a real SMTP server: the welcome e-mail and the password reset flow.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { callerFor, captureLogs, dialects, failure, useTestDeps } from '../server/testing/harness.ts';
import { createUser, signIn, TEST_PASSWORD, uniqueName } from '../server/testing/factories.ts';
import { startSmtpServer, useSmtpServer } from '../server/testing/smtp.ts';
import { createMailer } from '../server/mail/mailer.ts';
import { passwordResetEmail, welcomeEmail } from '../server/mail/templates.ts';
import { sendPasswordResetEmail, sendWelcomeEmail } from '../server/services/emails.ts';
import { welcomeEmailJob } from './definitions/welcome-email.ts';
import { passwordResetJob } from './definitions/password-reset-email.ts';

const tokenIn = (text: string) => /token: ([a-z2-7]{32})/.exec(text)?.[1];
const anonymousCaller = (deps: Parameters<typeof callerFor>[0]) => callerFor(deps, { ip: '192.0.2.41' });

describe.each(dialects)('e-mail jobs on %s', (dialect) => {
  const inbox = useSmtpServer();
  const deps = useTestDeps(dialect, { work: true, env: () => ({ SMTP_URL: inbox.current.url, PASSWORD_RESET_URL: 'https://app.example.com/reset' }) });
  const anonymous = () => callerFor(deps.current, { ip: '192.0.2.10' });

  it('registering sends one welcome e-mail, with text and HTML parts, from a worker', async () => {
    const name = uniqueName('welcome');
    const email = `${name}@example.com`;
    const { user } = await anonymous().auth.register({ username: name, email, password: 'a long enough password', fullName: 'Ada <b>L</b>' });
    await expect.poll(() => inbox.current.to(email).length).toBe(1);
    const [mail] = inbox.current.to(email);
    expect(mail.subject).toBe('Welcome to ai-backend-service');
    expect(mail.text).toContain(`your account "${name}" is ready`);
    expect(mail.html).toContain('Ada &lt;b&gt;L&lt;/b&gt;');
    expect(mail.html).not.toContain('<b>L</b>');
    // Recorded right after the SMTP server took the message.
    const { users } = deps.current.db.tables;
    const sentAt = async () => (await deps.current.db.orm.select({ sentAt: users.welcomeEmailSentAt }).from(users).where(eq(users.id, user.id)))[0].sentAt;
    await expect.poll(sentAt).toBeInstanceOf(Date);
    // pg-boss delivers at least once: running the job again sends nothing more.
    await sendWelcomeEmail(deps.current, user.id, { id: 'a-duplicate-job', retryCount: 0, signal: new AbortController().signal, expireInSeconds: 120 });
    expect(inbox.current.to(email)).toHaveLength(1);
  });

  it('mails a single-use reset token that sets a new password and ends every session', async () => {
    const user = await createUser(deps.current);
    const session = await signIn(deps.current, user);
    expect(await anonymous().auth.requestPasswordReset({ email: user.email.toUpperCase() })).toEqual({ ok: true });
    await expect.poll(() => inbox.current.to(user.email).length).toBe(1);
    const [mail] = inbox.current.to(user.email);
    expect(mail.subject).toBe('Reset your password');
    const token = tokenIn(mail.text ?? '');
    expect(token).toBeDefined();
    expect(mail.html).toContain(`https://app.example.com/reset?token=${token}`);
    // Only the token's hash is stored.
    const { passwordResetTokens } = deps.current.db.tables;
    const stored = await deps.current.db.orm.select().from(passwordResetTokens).where(eq(passwordResetTokens.userId, user.id));
    expect(stored).toHaveLength(1);
    expect(JSON.stringify(stored)).not.toContain(token);
    expect(stored[0].expiresAt.getTime() - stored[0].createdAt.getTime()).toBe(60 * 60 * 1000);

    expect((await failure(anonymous().auth.resetPassword({ token: token!, newPassword: user.username }))).fieldErrors).toHaveProperty('newPassword');
    expect(await anonymous().auth.resetPassword({ token: token!, newPassword: 'my brand new password' })).toEqual({ ok: true });
    expect((await failure(session.caller.auth.me())).code).toBe('UNAUTHORIZED');
    expect((await failure(anonymous().auth.login({ usernameOrEmail: user.username, password: TEST_PASSWORD }))).code).toBe('UNAUTHORIZED');
    expect((await anonymous().auth.login({ usernameOrEmail: user.username, password: 'my brand new password' })).user.id).toBe(user.id);
    // Single use.
    expect(await failure(anonymous().auth.resetPassword({ token: token!, newPassword: 'another new password' }))).toMatchObject({
      code: 'BAD_REQUEST',
      message: 'invalid or expired token',
    });
  });

  it('answers ok for an unknown address and mails nothing', async () => {
    const email = `${uniqueName('nobody')}@example.com`;
    expect(await anonymous().auth.requestPasswordReset({ email })).toEqual({ ok: true });
    await expect.poll(async () => (await deps.current.queue.find(passwordResetJob, { email })).map((job) => job.state)).toEqual(['completed']);
    expect(inbox.current.to(email)).toEqual([]);
  });

  it('mails nothing to an inactive account', async () => {
    const user = await createUser(deps.current, { isActive: false });
    await anonymous().auth.requestPasswordReset({ email: user.email });
    await expect.poll(async () => (await deps.current.queue.find(passwordResetJob, { email: user.email })).map((job) => job.state)).toEqual(['completed']);
    expect(inbox.current.to(user.email)).toEqual([]);
  });

  it('refuses unknown, malformed and expired tokens alike', async () => {
    for (const token of ['a'.repeat(32), 'not a token']) {
      expect(await failure(anonymous().auth.resetPassword({ token, newPassword: 'whatever new password' }))).toMatchObject({ code: 'BAD_REQUEST', message: 'invalid or expired token' });
    }
    const user = await createUser(deps.current);
    await anonymous().auth.requestPasswordReset({ email: user.email });
    await expect.poll(() => inbox.current.to(user.email).length).toBe(1);
    const token = tokenIn(inbox.current.to(user.email)[0].text ?? '')!;
    const { passwordResetTokens } = deps.current.db.tables;
    await deps.current.db.orm.update(passwordResetTokens).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(passwordResetTokens.userId, user.id));
    expect(await failure(anonymous().auth.resetPassword({ token, newPassword: 'whatever new password' }))).toMatchObject({ message: 'invalid or expired token' });
  });

  it('validates the request', async () => {
    expect((await failure(anonymous().auth.requestPasswordReset({ email: 'not-an-email' }))).fieldErrors).toHaveProperty('email');
    expect((await failure(anonymous().auth.resetPassword({ token: '', newPassword: 'x' }))).fieldErrors).toHaveProperty('token');
  });
});

describe.each(dialects)('password reset limits on %s', (dialect) => {
  const deps = useTestDeps(dialect, { env: { RATE_LIMIT_PASSWORD_RESET_PER_EMAIL_PER_HOUR: '2', RATE_LIMIT_PASSWORD_RESET_PER_MINUTE: '3' } });
  // PGlite (beside SQLite) starts slowly on a busy machine: in the hook, not in the test.
  beforeAll(() => deps.current.queue.start());

  it('limits requests per address and per IP', async () => {
    const email = `${uniqueName('limited')}@example.com`;
    const caller = (ip: string) => callerFor(deps.current, { ip });
    expect(await caller('192.0.2.20').auth.requestPasswordReset({ email })).toEqual({ ok: true });
    expect(await caller('192.0.2.21').auth.requestPasswordReset({ email })).toEqual({ ok: true });
    expect(await failure(caller('192.0.2.22').auth.requestPasswordReset({ email }))).toMatchObject({ code: 'TOO_MANY_REQUESTS' });
    for (let i = 0; i < 3; i++) await caller('192.0.2.30').auth.requestPasswordReset({ email: `${uniqueName('ip')}@example.com` });
    expect((await failure(caller('192.0.2.30').auth.requestPasswordReset({ email: `${uniqueName('ip')}@example.com` }))).code).toBe('TOO_MANY_REQUESTS');
  });
});

describe('the development outbox', () => {
  it('writes each message as an .eml file with both parts, and logs only subject and recipient', async () => {
    const dir = join(tmpdir(), uniqueName('outbox'));
    const { logger, lines } = captureLogs();
    const mailer = createMailer({ SMTP_URL: undefined, MAIL_FROM: 'Service <service@example.com>', OUTBOX_DIR: dir }, logger);
    try {
      const message = passwordResetEmail({ email: 'ada@example.com', username: 'ada' }, { url: 'https://app.example.com/reset', token: 'secrettoken', expiresAt: new Date() });
      const sent = await mailer.send(message);
      await mailer.send(welcomeEmail({ email: 'bob@example.com', username: 'bob', fullName: null }));
      expect(sent.transport).toBe('outbox');
      const files = readdirSync(dir).filter((file) => file.endsWith('.eml'));
      expect(files).toHaveLength(2);
      const eml = readFileSync(sent.file!, 'utf8');
      expect(eml).toMatch(/^From: Service <service@example.com>$/m);
      expect(eml).toMatch(/^To: ada@example.com$/m);
      expect(eml).toMatch(/^Subject: Reset your password$/m);
      expect(eml).toMatch(/Content-Type: text\/plain/);
      expect(eml).toMatch(/Content-Type: text\/html/);
      expect(lines.map((line) => line.msg)).toContain('e-mail written to the outbox (SMTP_URL is not set)');
      expect(lines.find((line) => line.to === 'ada@example.com')).toMatchObject({ subject: 'Reset your password' });
      expect(JSON.stringify(lines)).not.toContain('secrettoken');
    } finally {
      mailer.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Registers an account through the API and waits for its welcome job to finish, however it finishes. */
async function registerAndSettle(deps: { current: Parameters<typeof callerFor>[0] }) {
  const name = uniqueName('welcome');
  const email = `${name}@example.com`;
  const { user } = await callerFor(deps.current, { ip: '192.0.2.40' }).auth.register({ username: name, email, password: 'a long enough password' });
  await expect
    .poll(async () => (await deps.current.queue.find(welcomeEmailJob, { userId: user.id })).map((job) => job.state), { interval: 200 })
    .toSatisfy((states: string[]) => states.length === 1 && (states[0] === 'completed' || states[0] === 'failed'));
  return { user, email };
}

// Short expiries, so what a slow server does to a job shows in seconds: each send gets 4 s of the job's 6.
const misbehaving = (url: string) => ({ SMTP_URL: url, QUEUE_EXPIRE_SECONDS: 'email.welcome=6,email.password-reset=6', QUEUE_MAINTENANCE_INTERVAL_SECONDS: '1' });

describe.each(dialects)('e-mail jobs against a server that answers past the job’s expiry on %s', (dialect) => {
  const inbox = useSmtpServer({ answerAfterMs: 40_000 });
  const deps = useTestDeps(dialect, { work: true, env: () => misbehaving(inbox.current.url) });

  it('sends the welcome e-mail once: the send gives up within the expiry, and a message the server took counts as sent', async () => {
    const { user, email } = await registerAndSettle(deps);
    expect((await deps.current.queue.find(welcomeEmailJob, { userId: user.id }))[0].state).toBe('completed');
    expect(inbox.current.to(email)).toHaveLength(1);
    const { users } = deps.current.db.tables;
    const [row] = await deps.current.db.orm.select({ sentAt: users.welcomeEmailSentAt }).from(users).where(eq(users.id, user.id));
    expect(row.sentAt).toBeInstanceOf(Date);
  });

  it('mails one reset link, which works', async () => {
    const user = await createUser(deps.current);
    await anonymousCaller(deps.current).auth.requestPasswordReset({ email: user.email });
    await expect.poll(async () => (await deps.current.queue.find(passwordResetJob, { email: user.email })).map((job) => job.state), { interval: 200 }).toEqual(['completed']);
    expect(inbox.current.to(user.email)).toHaveLength(1);
    const token = tokenIn(inbox.current.to(user.email)[0].text ?? '')!;
    expect(await anonymousCaller(deps.current).auth.resetPassword({ token, newPassword: 'a brand new password' })).toEqual({ ok: true });
  });
});

describe.each(dialects)('e-mail jobs against a server that drops the connection after taking the message on %s', (dialect) => {
  const inbox = useSmtpServer({ dropAfterMessage: true });
  const deps = useTestDeps(dialect, { work: true, env: () => misbehaving(inbox.current.url) });

  it('sends the welcome e-mail once', async () => {
    const { user, email } = await registerAndSettle(deps);
    expect((await deps.current.queue.find(welcomeEmailJob, { userId: user.id }))[0].state).toBe('completed');
    expect(inbox.current.to(email)).toHaveLength(1);
  });

  it('mails one reset link, which works', async () => {
    const user = await createUser(deps.current);
    await anonymousCaller(deps.current).auth.requestPasswordReset({ email: user.email });
    await expect.poll(async () => (await deps.current.queue.find(passwordResetJob, { email: user.email })).map((job) => job.state), { interval: 200 }).toEqual(['completed']);
    expect(inbox.current.to(user.email)).toHaveLength(1);
    const token = tokenIn(inbox.current.to(user.email)[0].text ?? '')!;
    expect(await anonymousCaller(deps.current).auth.resetPassword({ token, newPassword: 'a brand new password' })).toEqual({ ok: true });
  });
});

describe.each(dialects)('password reset attempts on %s', (dialect) => {
  const inbox = useSmtpServer();
  const deps = useTestDeps(dialect, { env: () => ({ SMTP_URL: inbox.current.url }) });

  it('a retry adds a token and keeps the one already mailed valid; using one uses up all of them', async () => {
    const user = await createUser(deps.current);
    const { passwordResetTokens } = deps.current.db.tables;
    const attemptOf = (retryCount: number) => ({ id: 'a-reset-job', retryCount, signal: new AbortController().signal, expireInSeconds: 120 });
    await sendPasswordResetEmail(deps.current, user.email, attemptOf(0));
    // The worker died between the server's acceptance and the record of it: the retry finds nothing recorded.
    await deps.current.db.orm.update(passwordResetTokens).set({ emailSentAt: null }).where(eq(passwordResetTokens.userId, user.id));
    await sendPasswordResetEmail(deps.current, user.email, attemptOf(1));
    // Each attempt mails at most once.
    await sendPasswordResetEmail(deps.current, user.email, attemptOf(1));
    await sendPasswordResetEmail(deps.current, user.email, attemptOf(2));
    const tokens = inbox.current.to(user.email).map((mail) => tokenIn(mail.text ?? '')!);
    expect(tokens).toHaveLength(2);
    expect(new Set(tokens).size).toBe(2);
    expect(await anonymousCaller(deps.current).auth.resetPassword({ token: tokens[0], newPassword: 'the first new password' })).toEqual({ ok: true });
    expect(await failure(anonymousCaller(deps.current).auth.resetPassword({ token: tokens[1], newPassword: 'the second new password' }))).toMatchObject({ message: 'invalid or expired token' });
  });
});

describe('a message sent again under its key', () => {
  it('replaces its .eml file in the outbox (no partial file left) and keeps its Message-ID over SMTP', async () => {
    const dir = join(tmpdir(), uniqueName('outbox'));
    const outbox = createMailer({ SMTP_URL: undefined, MAIL_FROM: 'Service <service@example.com>', OUTBOX_DIR: dir }, captureLogs().logger);
    const message = { ...welcomeEmail({ email: 'kim@example.com', username: 'kim', fullName: null }), key: 'welcome-user-1' };
    try {
      const first = await outbox.send(message);
      const again = await outbox.send(message);
      expect(again.file).toBe(first.file);
      expect(readdirSync(dir)).toEqual(['welcome-user-1.eml']);
      expect(readFileSync(first.file!, 'utf8')).toMatch(/^Message-ID: <welcome-user-1@ai-backend-service>$/m);
    } finally {
      outbox.close();
      rmSync(dir, { recursive: true, force: true });
    }
    const inbox = await startSmtpServer();
    const smtp = createMailer({ SMTP_URL: inbox.url, MAIL_FROM: 'Service <service@example.com>', OUTBOX_DIR: dir }, captureLogs().logger);
    try {
      await smtp.send(message);
      await smtp.send(message);
      expect(inbox.to('kim@example.com').map((mail) => mail.messageId)).toEqual(['<welcome-user-1@ai-backend-service>', '<welcome-user-1@ai-backend-service>']);
    } finally {
      smtp.close();
      await inbox.close();
    }
  });
});
