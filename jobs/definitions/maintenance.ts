// maintenance.cleanup: daily, deletes expired sessions and reset tokens, and old finished tasks.
import { z } from 'zod';
import { cleanUp } from '../../server/services/maintenance.ts';
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
