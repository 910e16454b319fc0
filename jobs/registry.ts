// Every job of the service: queues are created for these at start, and workers work all of them.
import { register, type RegisteredJob } from './define.ts';
import { emailChangedJob } from './definitions/email-changed-notice.ts';
import { cleanUpJob, sweepTasksJob } from './definitions/maintenance.ts';
import { passwordResetJob } from './definitions/password-reset-email.ts';
import { runTaskJob } from './definitions/run-task.ts';
import { welcomeEmailJob } from './definitions/welcome-email.ts';

export const registeredJobs: readonly RegisteredJob[] = [
  register(welcomeEmailJob),
  register(passwordResetJob),
  register(emailChangedJob),
  register(runTaskJob),
  register(cleanUpJob),
  register(sweepTasksJob),
];
