// tasks.*: submit background work (the guide's process/results flow), follow it, list it, cancel it.
import { z } from 'zod';
import { TASK_STATUSES } from '../../db/index.ts';
import { authedProcedure, authedStreamProcedure, router } from '../trpc/init.ts';
import { eventStream } from '../trpc/event-stream.ts';
import { cancelTask, getTask, listTasks, submitTask } from '../services/tasks.ts';
import { idempotently } from '../services/idempotency.ts';
import { TASK_EVENT_ID, openTaskWatch } from '../services/live-updates.ts';
import { Id, page, pagination } from '../schemas.ts';
import { TASK_TYPES, taskTypes, type TaskType } from '../tasks/types.ts';

const TaskStatus = z.enum(TASK_STATUSES);
const TaskType = z.enum(taskTypes as [TaskType, ...TaskType[]]);

/** `{ type, input }`, validated per type: the SDK knows each type's input. */
const Submission = z.discriminatedUnion(
  'type',
  (Object.entries(TASK_TYPES) as [TaskType, (typeof TASK_TYPES)[TaskType]][]).map(([type, { input }]) => z.object({ type: z.literal(type), input })) as unknown as [
    z.ZodObject<{ type: z.ZodLiteral<'text.analyze'>; input: (typeof TASK_TYPES)['text.analyze']['input'] }>,
    z.ZodObject<{ type: z.ZodLiteral<'math.sum'>; input: (typeof TASK_TYPES)['math.sum']['input'] }>,
  ],
);

const TaskSummary = z.object({
  id: z.string(),
  userId: z.string(),
  type: TaskType,
  status: TaskStatus,
  /** The last attempt's error: no stack, ever. */
  error: z.string().nullable(),
  attempts: z.number().int(),
  createdAt: z.date(),
  startedAt: z.date().nullable(),
  finishedAt: z.date().nullable(),
});

const TextAnalyze = { type: z.literal('text.analyze'), input: TASK_TYPES['text.analyze'].input };
const MathSum = { type: z.literal('math.sum'), input: TASK_TYPES['math.sum'].input };
const Unfinished = TaskStatus.exclude(['completed']);

/**
 * A task with its typed input and result, keyed on `status` and then `type`: a completed task has its type's
 * result; any other has `result: null` (a failed one says why in `error`).
 */
const Task = z.discriminatedUnion('status', [
  z.discriminatedUnion('type', [
    TaskSummary.extend({ ...TextAnalyze, status: z.literal('completed'), result: TASK_TYPES['text.analyze'].result }),
    TaskSummary.extend({ ...MathSum, status: z.literal('completed'), result: TASK_TYPES['math.sum'].result }),
  ]),
  z.discriminatedUnion('type', [
    TaskSummary.extend({ ...TextAnalyze, status: Unfinished, result: z.null() }),
    TaskSummary.extend({ ...MathSum, status: Unfinished, result: z.null() }),
  ]),
]);

export const tasksRouter = router({
  submit: authedProcedure
    .meta({
      rest: {
        method: 'POST',
        path: '/tasks',
        status: 202,
        summary: 'Submit a background task',
        description:
          'The task runs on a worker; poll `GET /api/tasks/{id}` for its status and result, or follow `GET /api/tasks/events?taskId=…`. ' +
          'With an `Idempotency-Key` header a repeat of the request (same key and body) gets the first response instead of a second task.',
        errors: ['CONFLICT'],
        idempotent: true,
      },
    })
    .input(Submission)
    .output(z.object({ id: z.string(), status: z.literal('queued') }))
    .mutation(({ ctx, input }) =>
      idempotently(ctx.deps, { userId: ctx.user.id, procedure: 'tasks.submit', key: ctx.idempotencyKey, input }, () => submitTask(ctx.deps, ctx.user.id, input)),
    ),

  get: authedProcedure
    .meta({ rest: { method: 'GET', path: '/tasks/{id}', summary: 'A task with its input and result', errors: ['NOT_FOUND'] } })
    .input(z.object({ id: Id }))
    .output(Task)
    .query(async ({ ctx, input }) => Task.parse(await getTask(ctx.deps, ctx.user, input.id))),

  list: authedProcedure
    .meta({ rest: { method: 'GET', path: '/tasks', summary: 'Page through tasks (yours; admins may filter by user)' } })
    .input(pagination(20).extend({ status: TaskStatus.optional(), type: TaskType.optional(), userId: Id.optional() }))
    .output(page(TaskSummary))
    .query(({ ctx, input }) => listTasks(ctx.deps, ctx.user, input)),

  onChange: authedStreamProcedure
    .meta({
      rest: {
        method: 'GET',
        path: '/tasks/events',
        summary: 'Task changes as they happen (server-sent events)',
        description:
          'Each event is a task as `GET /api/tasks/{id}` returns it, in its state when sent. Yours, or (admins) everyone’s or one user’s. ' +
          'With `taskId`: that task, its current state first, and the stream ends when the task finishes. ' +
          'Reconnecting with `Last-Event-ID` (or `lastEventId`) sends again the tasks that are active or finished since that event (their current state, not each transition); ' +
          'a `: ping` comment every 15 s keeps the connection open.',
        errors: ['NOT_FOUND'],
      },
    })
    .input(
      z.object({
        taskId: Id.optional(),
        userId: Id.optional(),
        lastEventId: z.string().max(100).regex(TASK_EVENT_ID, 'is not an event id of this stream').optional(),
      }),
    )
    .output(eventStream(Task))
    .subscription(({ ctx, input, signal }) => openTaskWatch(ctx.deps, { ...ctx.user, auth: ctx.auth }, input, signal)),

  cancel: authedProcedure
    .meta({ rest: { method: 'POST', path: '/tasks/{id}/cancel', summary: 'Cancel a queued task', errors: ['NOT_FOUND', 'CONFLICT'] } })
    .input(z.object({ id: Id }))
    .output(TaskSummary)
    .mutation(({ ctx, input }) => cancelTask(ctx.deps, ctx.user, input.id)),
});
