// maintenance.cleanup: daily, deletes expired sessions and reset tokens, and old finished tasks;
// maintenance.sweep-tasks: every five minutes, repairs tasks that no job will settle.
import { z } from 'zod';
import { cleanUp, sweepTasks } from '../../server/services/maintenance.ts';
import { defineJob } from '../define.ts';

export const cleanUpJob = defineJob({
  name: 'maintenance.cleanup',
  payload: z.null().or(z.object({}).strict()).optional(),
  options: { retryLimit: 3, retryDelay: 60, expireInSeconds: 900, heartbeatSeconds: 60 },
  schedule: '17 3 * * *',
  handler: async (deps) => {
    const removed = await cleanUp(deps);
    deps.logger.info({ removed }, 'maintenance clean-up done');
  },
});

export const sweepTasksJob = defineJob({
  name: 'maintenance.sweep-tasks',
  payload: z.null().or(z.object({}).strict()).optional(),
  options: { retryLimit: 1, retryDelay: 30, expireInSeconds: 240, heartbeatSeconds: 60 },
  schedule: '*/5 * * * *',
  handler: async (deps) => {
    const repaired = await sweepTasks(deps);
    deps.logger.info({ repaired }, 'task sweep done');
  },
});
