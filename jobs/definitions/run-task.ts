// tasks.run: runs one user task (tasks.submit enqueues it with the task's row).
import { z } from 'zod';
import { failAbandonedTask, runTask } from '../../server/services/task-runs.ts';
import { defineJob } from '../define.ts';

export const runTaskJob = defineJob({
  name: 'tasks.run',
  // `run`: the task's type and input, when small (carriedRun): the attempt can run it before claiming it.
  payload: z.object({ taskId: z.string(), run: z.object({ type: z.string(), input: z.unknown() }).optional() }),
  // Heartbeats every 5 s (of 10): a task whose worker died is picked up again about 10 s later.
  options: { retryLimit: 2, retryDelay: 2, retryDelayMax: 60, expireInSeconds: 600, heartbeatSeconds: 10 },
  handler: (deps, { taskId, run }, job) => runTask(deps, taskId, job, run),
  // The last attempt was lost with its worker: nobody else will settle the task.
  onDeadLetter: (deps, { taskId }) => failAbandonedTask(deps, taskId),
});
