// Live updates as async streams: a viewer's task changes (tasks.onChange) and the dashboard counts (admin.onStats).
import { setTimeout as sleep } from 'node:timers/promises';
import { and, asc, eq, gte, inArray, or } from 'drizzle-orm';
import type { Authenticated } from './auth.ts';
import type { Deps } from '../deps.ts';
import { AppError } from '../errors.ts';
import type { Subscriber } from '../live.ts';
import { getStats, type Stats } from './stats.ts';
import { getTask, type Viewer } from './tasks.ts';

export type TaskDetail = Awaited<ReturnType<typeof getTask>>;
/** One event of a stream: its id (for resuming) and its data. */
export type LiveEvent<T> = { id: string; data: T };

/** Task event ids: the change's time in ms and the task id. Stats event ids: the time the counts were taken. */
export const TASK_EVENT_ID = /^(\d{1,15}):([A-Za-z0-9-]{1,64})$/;
export const STATS_EVENT_ID = /^\d{1,15}$/;

/**
 * Events carry a task's state as it is when sent, not each transition: a resume sends again what changed
 * since the last event id, looking this much further back for clocks of different processes that disagree.
 */
const RESUME_MARGIN_MS = 5_000;
/** A resume sends at most this many tasks (active ones and those finished since the last event). */
export const RESUME_LIMIT = 500;
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

const credentialOf = (auth: Authenticated): Subscriber['credential'] =>
  auth.kind === 'session' ? { kind: 'session', id: auth.session.id } : { kind: 'apiToken', id: auth.apiTokenId };

const changedAt = (task: { createdAt: Date; startedAt: Date | null; finishedAt: Date | null }): number =>
  Math.max(task.createdAt.getTime(), task.startedAt?.getTime() ?? 0, task.finishedAt?.getTime() ?? 0);

const taskEvent = (task: TaskDetail): LiveEvent<TaskDetail> => ({ id: `${changedAt(task)}:${task.id}`, data: task });

/** What a pending change or resynchronisation wakes a stream with. */
type Wake = { ids: Set<string>; resync: boolean };

/** A mailbox one stream waits on: changes, a resync, or the end of the subscription (its error). */
function mailbox(signal: AbortSignal | undefined) {
  let pending: Wake = { ids: new Set(), resync: false };
  let failure: AppError | null = null;
  let wake: (() => void) | null = null;
  const signalled = () => {
    const resolve = wake;
    wake = null;
    resolve?.();
  };
  signal?.addEventListener('abort', signalled, { once: true });
  return {
    add: (id: string) => {
      pending.ids.add(id);
      signalled();
    },
    resync: () => {
      pending.resync = true;
      signalled();
    },
    fail: (error: AppError) => {
      failure = error;
      signalled();
    },
    /** The next batch of work; null when the client went away. */
    take: async (): Promise<Wake | null> => {
      for (;;) {
        if (failure) throw failure;
        if (signal?.aborted) return null;
        if (pending.resync || pending.ids.size > 0) {
          const taken = pending;
          pending = { ids: new Set(), resync: false };
          return taken;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
}

export type TaskWatch = {
  /** One task (its current state first; the stream ends when it finishes). */
  taskId?: string | undefined;
  /** Admins: one user's tasks. Without taskId and userId: the caller's tasks, or everyone's for an admin. */
  userId?: string | undefined;
  /** Resume: what changed since this event id (see TASK_EVENT_ID). */
  lastEventId?: string | undefined;
};

/** A task as a subscriber sees it, read once however many subscribers a change reaches. */
const loadTask = (deps: Deps, id: string) =>
  deps.live.shared(`task:${id}`, () => getTask(deps, { id: '', role: 'admin' }, id).catch((error: unknown) => {
    if (error instanceof AppError && error.code === 'NOT_FOUND') return null;
    throw error;
  }));

/**
 * Ties a subscription's resources to whichever comes first: the stream's end, or the client going away (a stream
 * that was never read has no `finally` to run).
 */
function resources(signal: AbortSignal | undefined) {
  const cleanups: (() => void)[] = [];
  const release = () => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  };
  signal?.addEventListener('abort', release, { once: true });
  return { add: (cleanup: () => void) => cleanups.push(cleanup), release };
}

/**
 * The viewer's task changes. Owners see their own tasks; admins anyone's. Everything that can refuse the
 * subscription (FORBIDDEN, BAD_REQUEST, NOT_FOUND for unknown and other users' task ids as for tasks.get,
 * TOO_MANY_REQUESTS) happens before this resolves; listening starts before anything is read, so no change falls
 * between the first read and the stream.
 */
export async function openTaskWatch(deps: Deps, viewer: Viewer & { auth: Authenticated }, watch: TaskWatch, signal?: AbortSignal): Promise<AsyncGenerator<LiveEvent<TaskDetail>>> {
  if (watch.userId !== undefined && viewer.role !== 'admin' && watch.userId !== viewer.id) {
    throw new AppError('FORBIDDEN', 'only admins may watch other users’ tasks');
  }
  let since: number | null = null;
  if (watch.lastEventId !== undefined) {
    const match = TASK_EVENT_ID.exec(watch.lastEventId);
    if (!match) throw new AppError('BAD_REQUEST', 'lastEventId is not an event id of this stream', { fieldErrors: { lastEventId: ['is not an event id of this stream'] } });
    since = Number(match[1]);
  }
  const owner = watch.userId ?? (viewer.role === 'admin' ? null : viewer.id);
  const matches = (change: { id: string; userId: string }) =>
    watch.taskId !== undefined ? change.id === watch.taskId : owner === null || change.userId === owner;

  const box = mailbox(signal);
  const held = resources(signal);
  let first: TaskDetail[] = [];
  try {
    // Listening first, then a place: a subscription counted is one that hears every change from then on.
    held.add(await deps.live.onTaskChange({ change: (change) => matches(change) && box.add(change.id), resync: box.resync }));
    held.add(deps.live.admit({ kind: 'tasks', userId: viewer.id, credential: credentialOf(viewer.auth), needsAdmin: owner !== viewer.id && watch.taskId === undefined, end: box.fail }));
    if (watch.taskId !== undefined) first = [await getTask(deps, viewer, watch.taskId)];
  } catch (error) {
    held.release();
    throw error;
  }

  /** The tasks in scope that are active or finished since `from`: what a resume or a resync sends. */
  const changedSince = async (from: number): Promise<TaskDetail[]> => {
    const { tasks } = deps.db.tables;
    const rows = await deps.db.orm
      .select({ id: tasks.id })
      .from(tasks)
      .where(
        and(
          owner === null ? undefined : eq(tasks.userId, owner),
          or(inArray(tasks.status, ['queued', 'running']), gte(tasks.finishedAt, new Date(from - RESUME_MARGIN_MS))),
        ),
      )
      .orderBy(asc(tasks.createdAt))
      .limit(RESUME_LIMIT);
    const loaded = await Promise.all(rows.map((row) => loadTask(deps, row.id)));
    return loaded.filter((task): task is TaskDetail => task !== null);
  };

  async function* events(): AsyncGenerator<LiveEvent<TaskDetail>> {
    try {
      // What was last sent per task: a change read twice (two notifications, one state) is sent once.
      const sent = new Map<string, string>();
      const fresh = (task: TaskDetail): boolean => {
        const key = `${task.status}|${task.attempts}|${task.error ?? ''}|${changedAt(task)}`;
        if (sent.get(task.id) === key) return false;
        if (sent.size >= 1_000) sent.clear();
        sent.set(task.id, key);
        return true;
      };
      let last = since ?? deps.clock.now().getTime();
      let batch: (TaskDetail | null)[] = since !== null && watch.taskId === undefined ? await changedSince(since) : first;
      for (;;) {
        for (const task of batch) {
          if (!task || !fresh(task)) continue;
          last = Math.max(last, changedAt(task));
          yield taskEvent(task);
          if (watch.taskId !== undefined && TERMINAL.has(task.status)) return;
        }
        const wake = await box.take();
        if (!wake) return;
        if (wake.resync && watch.taskId === undefined) batch = await changedSince(last);
        else batch = await Promise.all([...(wake.resync ? [watch.taskId!] : []), ...wake.ids].map((id) => loadTask(deps, id)));
      }
    } finally {
      held.release();
    }
  }
  return events();
}

/**
 * admin.stats, at most once a second: now, then whenever a task changes or LIVE_STATS_REFRESH_SECONDS pass, if
 * the counts moved. A reconnect gets the current counts (they have no history).
 */
export async function openStatsWatch(deps: Deps, viewer: Viewer & { auth: Authenticated }, lastEventId: string | undefined, signal?: AbortSignal): Promise<AsyncGenerator<LiveEvent<Stats>>> {
  if (lastEventId !== undefined && !STATS_EVENT_ID.test(lastEventId)) {
    throw new AppError('BAD_REQUEST', 'lastEventId is not an event id of this stream', { fieldErrors: { lastEventId: ['is not an event id of this stream'] } });
  }
  const box = mailbox(signal);
  const held = resources(signal);
  try {
    held.add(await deps.live.onTaskChange({ change: () => box.resync(), resync: box.resync }));
    held.add(deps.live.admit({ kind: 'stats', userId: viewer.id, credential: credentialOf(viewer.auth), needsAdmin: true, end: box.fail }));
  } catch (error) {
    held.release();
    throw error;
  }
  const refresh = setInterval(() => box.resync(), deps.config.LIVE_STATS_REFRESH_SECONDS * 1000);
  refresh.unref();
  held.add(() => clearInterval(refresh));
  // One count per second for every admin watching (at most), shared by them all.
  const count = () => deps.live.shared(`stats:${Math.floor(Date.now() / 1000)}`, () => getStats(deps));

  async function* events(): AsyncGenerator<LiveEvent<Stats>> {
    try {
      let previous = '';
      for (;;) {
        const stats = await count();
        const countedAt = Date.now();
        const text = JSON.stringify(stats);
        if (text !== previous) {
          previous = text;
          yield { id: String(deps.clock.now().getTime()), data: stats };
        }
        if (!(await box.take())) return;
        const wait = countedAt + 1_000 - Date.now();
        if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => {});
        if (signal?.aborted) return;
      }
    } finally {
      held.release();
    }
  }
  return events();
}
