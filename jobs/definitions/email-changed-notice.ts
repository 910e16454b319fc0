// email.email-changed: tells the previous address of an account that its e-mail address changed (enqueued by users.updateMe with the change).
import { z } from 'zod';
import { emailChangedEmail } from '../../server/mail/templates.ts';
import { defineJob } from '../define.ts';

export const emailChangedJob = defineJob({
  name: 'email.email-changed',
  // The addresses travel in the payload: by the time it runs, the account holds the new one (or is gone).
  payload: z.object({ oldEmail: z.string(), newEmail: z.string(), username: z.string() }),
  // A mail server can be down for a while: back off from 10 s up to 10 min over 8 retries.
  options: { retryLimit: 8, retryDelay: 10, retryDelayMax: 600, expireInSeconds: 120, heartbeatSeconds: 30 },
  // A notice, not a token: should an attempt fail after the mail went out, a retry sends it again, which is harmless.
  handler: async (deps, notice) => {
    await deps.mailer.send(emailChangedEmail(notice));
  },
});
