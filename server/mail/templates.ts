// The e-mails the service sends, each with a plain-text and an HTML part.
import type { Message } from './mailer.ts';

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] ?? char);

function layout(title: string, paragraphs: string[]): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body style="font-family: system-ui, sans-serif; line-height: 1.5; color: #1f2328; max-width: 560px; margin: 24px auto;">
${paragraphs.map((paragraph) => `<p>${paragraph}</p>`).join('\n')}
</body>
</html>
`;
}

export function welcomeEmail(user: { email: string; username: string; fullName: string | null }): Message {
  const name = user.fullName ?? user.username;
  return {
    to: user.email,
    subject: 'Welcome to ai-backend-service',
    text: `Hello ${name},\n\nyour account "${user.username}" is ready. Sign in with your username or this e-mail address.\n\nIf you did not create it, reply to this message.\n`,
    html: layout('Welcome', [
      `Hello ${escapeHtml(name)},`,
      `your account <strong>${escapeHtml(user.username)}</strong> is ready. Sign in with your username or this e-mail address.`,
      'If you did not create it, reply to this message.',
    ]),
  };
}

export function passwordResetEmail(user: { email: string; username: string }, reset: { url: string; token: string; expiresAt: Date }): Message {
  const link = new URL(reset.url);
  link.searchParams.set('token', reset.token);
  const until = reset.expiresAt.toISOString().replace('T', ' ').slice(0, 16);
  return {
    to: user.email,
    subject: 'Reset your password',
    text: `Hello ${user.username},\n\nsomeone asked to reset the password of your account. To choose a new one, open\n\n${link.href}\n\nor use this token: ${reset.token}\n\nIt works once, until ${until} UTC. If you did not ask, ignore this message: your password stays as it is.\n`,
    html: layout('Reset your password', [
      `Hello ${escapeHtml(user.username)},`,
      'someone asked to reset the password of your account.',
      `<a href="${escapeHtml(link.href)}">Choose a new password</a>, or use this token: <code>${escapeHtml(reset.token)}</code>`,
      `It works once, until ${until} UTC. If you did not ask, ignore this message: your password stays as it is.`,
    ]),
  };
}

/** To a user whose account an admin created without a password: the reset flow's token, worded for a first password. */
export function setPasswordEmail(user: { email: string; username: string }, reset: { url: string; token: string; expiresAt: Date }): Message {
  const link = new URL(reset.url);
  link.searchParams.set('token', reset.token);
  const until = reset.expiresAt.toISOString().replace('T', ' ').slice(0, 16);
  return {
    to: user.email,
    subject: 'Choose the password of your new account',
    text: `Hello ${user.username},\n\nan administrator created the account "${user.username}" for this address. To choose its password, open\n\n${link.href}\n\nor use this token: ${reset.token}\n\nIt works once, until ${until} UTC; after that, use "forgot password" to get a new link.\n`,
    html: layout('Choose your password', [
      `Hello ${escapeHtml(user.username)},`,
      `an administrator created the account <strong>${escapeHtml(user.username)}</strong> for this address.`,
      `<a href="${escapeHtml(link.href)}">Choose its password</a>, or use this token: <code>${escapeHtml(reset.token)}</code>`,
      `It works once, until ${until} UTC; after that, use “forgot password” to get a new link.`,
    ]),
  };
}

/** To the previous address of an account whose e-mail address changed: the owner learns of a change they did not make. */
export function emailChangedEmail(notice: { oldEmail: string; newEmail: string; username: string }): Message {
  return {
    to: notice.oldEmail,
    subject: 'The e-mail address of your account changed',
    text: `Hello ${notice.username},\n\nthe e-mail address of your account "${notice.username}" was changed from this address to ${notice.newEmail}. Password resets and notices now go there.\n\nIf you did not make this change, reply to this message at once: someone else may have your password.\n`,
    html: layout('Your e-mail address changed', [
      `Hello ${escapeHtml(notice.username)},`,
      `the e-mail address of your account <strong>${escapeHtml(notice.username)}</strong> was changed from this address to <strong>${escapeHtml(notice.newEmail)}</strong>. Password resets and notices now go there.`,
      'If you did not make this change, reply to this message at once: someone else may have your password.',
    ]),
  };
}
