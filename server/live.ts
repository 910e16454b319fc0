// Live updates in this process: one listener on the task channel fanned out to every subscriber, the caps on
// subscriptions, and a periodic check that ends the subscriptions whose session or token has ended.
import type { Database } from '../db/index.ts';
import type { Clock } from './deps.ts';
import type { Config } from './config.ts';
import { AppError } from './errors.ts';
import type { Logger } from './logger.ts';
import { liveApiTokenRoles } from './services/api-tokens.ts';
import { liveSessionRoles } from './services/sessions.ts';
import { parseTaskChange, TASK_CHANNEL, type TaskChange } from './services/task-changes.ts';

export type TaskChangeListener = { change: (change: TaskChange) => void; resync: () => void };

/** Who holds a subscription: what vouches for them (checked every LIVE_SESSION_CHECK_SECONDS) and whether it needs an admin. */
export type Subscriber = {
  kind: 'tasks' | 'stats';
  userId: string;
  credential: { kind: 'session' | 'apiToken'; id: string };
  needsAdmin: boolean;
  /** Ends the subscription with this error (its session ended, its user lost the role). */
  end: (error: AppError) => void;
};

export type Live = {
  /** Hears every task change; resolves once listening, so what the caller reads after it cannot miss a change. */
  onTaskChange: (listener: TaskChangeListener) => Promise<() => void>;
  /** Takes a place for a subscription (TOO_MANY_REQUESTS over a cap); returns its release. */
  admit: (subscriber: Subscriber) => () => void;
  /** Open subscriptions of this process, by kind. */
  count: () => { tasks: number; stats: number };
  /**
   * `load` once for concurrent callers with the same key (a change fanned out to many subscribers is read once).
   */
  shared: <T>(key: string, load: () => Promise<T>) => Promise<T>;
  /** Runs the session check now (tests; the timer runs it every LIVE_SESSION_CHECK_SECONDS). */
  checkSessions: () => Promise<void>;
  /**
   * Ends every open subscription with SERVICE_UNAVAILABLE (clients reconnect, to another process) and refuses new
   * ones, then stops listening. The first step of a shutdown: a stream would otherwise hold the drain until its
   * deadline. Called again, it waits for the first call.
   */
  close: () => Promise<void>;
};

/** What a subscription ends with, or is refused with, while its process shuts down: a code clients retry on. */
const shuttingDown = () => new AppError('SERVICE_UNAVAILABLE', 'the server is shutting down; reconnect', { retryAfterSeconds: 1 });

export function createLive(parts: { config: Config; logger: Logger; db: Database; clock: Clock }): Live {
  const { config, logger, db, clock } = parts;
  const listeners = new Set<TaskChangeListener>();
  let listening: Promise<() => Promise<void>> | null = null;
  const subscribers = new Set<Subscriber>();
  const perUser = new Map<string, number>();
  const inFlight = new Map<string, Promise<unknown>>();
  let checker: NodeJS.Timeout | null = null;
  let closed = false;
  let closing: Promise<void> | null = null;

  const resyncAll = () => {
    for (const listener of listeners) listener.resync();
  };

  const startListening = (): Promise<() => Promise<void>> =>
    (listening ??= db
      .listen(TASK_CHANNEL, {
        message: (payload) => {
          const change = parseTaskChange(payload);
          if (!change) return logger.warn({ channel: TASK_CHANNEL }, 'ignored a notification that is not a task change');
          for (const listener of listeners) listener.change(change);
        },
        resync: resyncAll,
      })
      .catch((error: unknown) => {
        listening = null;
        throw error;
      }));

  /** Every subscription whose credential is gone (logout, expiry, revocation), whose user is inactive, or that needs an admin who is no longer one. */
  async function checkSessions(): Promise<void> {
    if (subscribers.size === 0) return;
    const all = [...subscribers];
    const ids = (kind: 'session' | 'apiToken') => [...new Set(all.filter((s) => s.credential.kind === kind).map((s) => s.credential.id))];
    const roles = { session: await liveSessionRoles({ db, clock }, ids('session')), apiToken: await liveApiTokenRoles({ db, clock }, ids('apiToken')) };
    for (const subscriber of all) {
      if (!subscribers.has(subscriber)) continue;
      const role = roles[subscriber.credential.kind].get(subscriber.credential.id);
      if (!role) subscriber.end(new AppError('UNAUTHORIZED', 'the session of this subscription has ended'));
      else if (subscriber.needsAdmin && role !== 'admin') subscriber.end(new AppError('FORBIDDEN', 'admin only'));
    }
  }

  const scheduleChecks = () => {
    if (checker || closed) return;
    checker = setInterval(() => {
      checkSessions().catch((error: unknown) => logger.warn({ err: error }, 'live updates: the session check failed; it runs again shortly'));
    }, config.LIVE_SESSION_CHECK_SECONDS * 1000);
    checker.unref();
  };

  return {
    onTaskChange: async (listener) => {
      if (!config.LIVE_UPDATES) throw new AppError('FORBIDDEN', 'live updates are turned off on this server (LIVE_UPDATES=false)');
      listeners.add(listener);
      try {
        await startListening();
      } catch (error) {
        listeners.delete(listener);
        throw error;
      }
      return () => listeners.delete(listener);
    },
    admit: (subscriber) => {
      if (closed) throw shuttingDown();
      if (subscribers.size >= config.LIVE_MAX_SUBSCRIPTIONS) {
        throw new AppError('TOO_MANY_REQUESTS', 'this server holds as many subscriptions as it may; try again later', { retryAfterSeconds: 5 });
      }
      const held = perUser.get(subscriber.userId) ?? 0;
      if (held >= config.LIVE_MAX_SUBSCRIPTIONS_PER_USER) {
        throw new AppError('TOO_MANY_REQUESTS', `at most ${config.LIVE_MAX_SUBSCRIPTIONS_PER_USER} subscriptions per user at a time`, { retryAfterSeconds: 5 });
      }
      subscribers.add(subscriber);
      perUser.set(subscriber.userId, held + 1);
      scheduleChecks();
      let released = false;
      return () => {
        if (released) return;
        released = true;
        subscribers.delete(subscriber);
        const left = (perUser.get(subscriber.userId) ?? 1) - 1;
        if (left > 0) perUser.set(subscriber.userId, left);
        else perUser.delete(subscriber.userId);
        if (subscribers.size === 0 && checker) {
          clearInterval(checker);
          checker = null;
        }
      };
    },
    count: () => {
      const counts = { tasks: 0, stats: 0 };
      for (const subscriber of subscribers) counts[subscriber.kind]++;
      return counts;
    },
    shared: <T>(key: string, load: () => Promise<T>): Promise<T> => {
      const pending = inFlight.get(key) as Promise<T> | undefined;
      if (pending) return pending;
      const started = load().finally(() => inFlight.delete(key));
      inFlight.set(key, started);
      return started;
    },
    checkSessions,
    close: () =>
      (closing ??= (async () => {
        closed = true;
        if (checker) clearInterval(checker);
        checker = null;
        for (const subscriber of [...subscribers]) subscriber.end(shuttingDown());
        const stop = await listening?.catch(() => null);
        listeners.clear();
        await stop?.();
      })()),
  };
}
