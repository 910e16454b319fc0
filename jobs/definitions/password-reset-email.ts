// email.password-reset: mails a single-use reset token if an active account has this address (`purpose: 'set'`:
// the first password of an account an admin created without one).
import { z } from 'zod';
import { sendPasswordResetEmail } from '../../server/services/emails.ts';
import { defineJob } from '../define.ts';

export const passwordResetJob = defineJob({
  name: 'email.password-reset',
  payload: z.object({ email: z.string(), purpose: z.enum(['reset', 'set']).optional() }),
  // The token lives an hour: retrying for longer than that would mail a useless token.
  options: { retryLimit: 6, retryDelay: 5, retryDelayMax: 300, expireInSeconds: 120, heartbeatSeconds: 30 },
  handler: (deps, { email, purpose }, job) => sendPasswordResetEmail(deps, email, job, purpose ?? 'reset'),
});
