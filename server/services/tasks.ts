// User tasks through the API: submit (the row and its job commit together), read, list, cancel.
import { and, eq, sql, type SQL } from 'drizzle-orm';
import { newId, TASK_STATUSES, type Database, type TaskStatus } from '../../db/index.ts';
import { runTaskJob } from '../../jobs/definitions/run-task.ts';
import { FINISHED_JOBS_KEPT_DAYS } from '../../jobs/define.ts';
import { createBatcher, type Batcher } from '../batcher.ts';
import type { Deps } from '../deps.ts';
import { AppError, notFound } from '../errors.ts';
import type { Role } from '../schemas.ts';
import type { TaskType } from '../tasks/types.ts';
import { taskAnnouncement } from './task-changes.ts';
import { carriedRun } from './task-runs.ts';
import { decodeCursor, fixedValue, newestFirstStatements, pageValues, toCountedPage, type PageRequest } from './pages.ts';

export type Viewer = { id: string; role: Role };
export type Submission = { type: TaskType; input: unknown };

const summaryColumns = ({ tasks }: Deps['db']['tables']) => ({
  id: tasks.id,
  userId: tasks.userId,
  type: tasks.type,
  status: tasks.status,
  error: tasks.error,
  attempts: tasks.attempts,
  createdAt: tasks.createdAt,
  startedAt: tasks.startedAt,
  finishedAt: tasks.finishedAt,
});

/** Rows only ever hold types tasks.submit validated; the column itself is plain text. */
const typed = <R extends { type: string }>(row: R): Omit<R, 'type'> & { type: TaskType } => row as Omit<R, 'type'> & { type: TaskType };

/** Owners see their tasks; admins see everyone's; to anyone else a task does not exist. */
const visibleTo = (viewer: Viewer, { tasks }: Deps['db']['tables']): SQL | undefined => (viewer.role === 'admin' ? undefined : eq(tasks.userId, viewer.id));

type NewTask = { userId: string; submission: Submission };

/** Inserts the tasks and their jobs in one transaction: they commit, or roll back, together. */
async function insertTasks(deps: Deps, items: NewTask[]): Promise<{ id: string; status: 'queued' }[]> {
  const { tasks } = deps.db.tables;
  const now = deps.clock.now();
  // Ids are made here, not returned by the insert: SQLite does not promise RETURNING's order.
  const rows = items.map(({ userId, submission }) => ({ id: newId(), userId, type: submission.type, input: submission.input, createdAt: now }));
  await deps.queue.transaction(async (tx, enqueue) => {
    await tx.insert(tasks).values(rows).returning({ announced: taskAnnouncement(deps) });
    await enqueue(runTaskJob, ...rows.map((row) => ({ taskId: row.id, run: carriedRun(row.type, row.input) })));
  });
  return rows.map((row) => ({ id: row.id, status: 'queued' as const }));
}

/**
 * Strips the jobs of deleted tasks down to their task id (Queue.forget): a job carries a small task's input
 * (carriedRun), and pg-boss keeps it until FINISHED_JOBS_KEPT_DAYS after the job finished. The rows are gone either way: a queue
 * that cannot do it now is logged, and the deletion stands.
 */
export async function forgetTaskJobs(deps: Deps, taskIds: readonly string[]): Promise<void> {
  if (taskIds.length === 0) return;
  try {
    const stripped = await deps.queue.forget(runTaskJob, 'taskId', taskIds);
    if (stripped.jobs === null) deps.logger.warn({ tasks: taskIds.length, outboxRows: stripped.outbox }, 'deleted tasks: only their outbox rows were stripped of their input; this process has not started its job queue');
    else deps.logger.info({ tasks: taskIds.length, outboxRows: stripped.outbox, jobs: stripped.jobs }, 'deleted tasks: their jobs no longer carry their input');
  } catch (error) {
    deps.logger.error({ err: error, tasks: taskIds.length }, `deleted tasks: their jobs could not be stripped of their input; pg-boss deletes them ${FINISHED_JOBS_KEPT_DAYS} days after they finished`);
  }
}

const submitters = new WeakMap<Deps, Batcher<NewTask, { id: string; status: 'queued' }>>();

/**
 * Queues a task. Submissions that arrive together (a tRPC batch, a busy server) share one transaction with
 * one multi-row insert and one bulk enqueue: a fraction of the statements and commits of one each.
 */
export function submitTask(deps: Deps, userId: string, submission: Submission): Promise<{ id: string; status: 'queued' }> {
  let submitter = submitters.get(deps);
  if (!submitter) {
    submitter = createBatcher((items: NewTask[]) => insertTasks(deps, items), { maxSize: 100 });
    submitters.set(deps, submitter);
  }
  return submitter.add({ userId, submission });
}

export async function getTask(deps: Deps, viewer: Viewer, id: string) {
  const { tasks } = deps.db.tables;
  const [row] = await deps.db.orm
    .select({ ...summaryColumns(deps.db.tables), input: tasks.input, result: tasks.result })
    .from(tasks)
    .where(and(eq(tasks.id, id), visibleTo(viewer, deps.db.tables)));
  if (!row) throw notFound('task');
  return typed(row);
}

export type TaskFilter = PageRequest & { status?: TaskStatus | undefined; type?: TaskType | undefined; userId?: string | undefined };

/**
 * Newest first, keyset-paged, with a capped total; every filter combination walks a (…, created_at, id) index. One
 * statement for the page and its total, of a few shapes each prepared once per database (taskListStatements).
 */
export async function listTasks(deps: Deps, viewer: Viewer, filter: TaskFilter) {
  if (filter.userId !== undefined && viewer.role !== 'admin') throw new AppError('FORBIDDEN', 'only admins may list other users’ tasks');
  const key = decodeCursor(filter.cursor);
  const shape: TaskListShape = {
    own: viewer.role !== 'admin',
    user: filter.userId !== undefined,
    status: filter.status ?? 'any',
    type: filter.type !== undefined,
    cursor: key !== undefined,
    skip: filter.skip > 0,
  };
  const { page, total } = taskListStatements(deps.db, shape);
  const values = { viewer: viewer.id, userId: filter.userId ?? '', type: filter.type ?? '', ...pageValues(filter, key) };
  const counted = await toCountedPage(await page.execute(values), filter, async () => (await total.execute(values))[0].n);
  return { ...counted, items: counted.items.map(typed) };
}

/** Which statement a tasks.list runs: the viewer's own tasks or everyone's, its filters, where its page starts. */
type TaskListShape = { own: boolean; user: boolean; status: TaskStatus | 'any'; type: boolean; cursor: boolean; skip: boolean };

/**
 * A list of this shape's statements (newestFirstStatements). The ids and the type go in as placeholders; the status as
 * a constant (fixedValue): how many tasks have it ranges from none to nearly all.
 */
function taskListStatements(db: Database, shape: TaskListShape) {
  const name = `tasks_list_${shape.own ? 'own' : 'all'}_${shape.user ? 'user' : 'any'}_${shape.status}_${shape.type ? 'type' : 'any'}_${shape.cursor ? 'after' : 'first'}_${shape.skip ? 'skip' : 'top'}`;
  return newestFirstStatements(db, name, shape, ({ tasks }) => tasks, summaryColumns, ({ tasks }) =>
    and(
      shape.own ? eq(tasks.userId, sql.placeholder('viewer')) : undefined,
      shape.user ? eq(tasks.userId, sql.placeholder('userId')) : undefined,
      shape.status === 'any' ? undefined : fixedValue(tasks.status, shape.status, TASK_STATUSES),
      shape.type ? eq(tasks.type, sql.placeholder('type')) : undefined,
    ),
  );
}

/** Only a queued task can be cancelled; its job then finds it cancelled and writes nothing (see runTask). */
export async function cancelTask(deps: Deps, viewer: Viewer, id: string) {
  const { tasks } = deps.db.tables;
  const [row] = await deps.db.orm
    .update(tasks)
    .set({ status: 'cancelled', finishedAt: deps.clock.now() })
    .where(and(eq(tasks.id, id), eq(tasks.status, 'queued'), visibleTo(viewer, deps.db.tables)))
    .returning({ ...summaryColumns(deps.db.tables), announced: taskAnnouncement(deps) });
  if (row) {
    const { announced: _announced, ...summary } = row;
    return typed(summary);
  }
  const [existing] = await deps.db.orm
    .select({ status: tasks.status })
    .from(tasks)
    .where(and(eq(tasks.id, id), visibleTo(viewer, deps.db.tables)));
  if (!existing) throw notFound('task');
  throw new AppError('CONFLICT', `only a queued task can be cancelled; this one is ${existing.status}`);
}
