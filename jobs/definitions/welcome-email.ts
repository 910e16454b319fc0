// email.welcome: the welcome e-mail of a new account (enqueued by auth.register, with the account's row).
import { z } from 'zod';
import { sendWelcomeEmail } from '../../server/services/emails.ts';
import { defineJob } from '../define.ts';

export const welcomeEmailJob = defineJob({
  name: 'email.welcome',
  payload: z.object({ userId: z.string() }),
  // A mail server can be down for a while: back off from 10 s up to 10 min over 8 retries.
  options: { retryLimit: 8, retryDelay: 10, retryDelayMax: 600, expireInSeconds: 120, heartbeatSeconds: 30 },
  handler: (deps, { userId }, job) => sendWelcomeEmail(deps, userId, job),
});
