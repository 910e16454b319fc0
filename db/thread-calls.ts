// Calls to a worker thread by message: each call carries an id and is answered by one message with that id.
// The thread keeps the process alive only while a call is in flight; once the thread has failed, every call in
// flight and every later one rejects with its error. Shared by the SQLite reader and the PGlite thread.
import type { Worker } from 'node:worker_threads';

export type ThreadCalls = {
  /** Posts `message` with `id` (a fresh one unless given) and resolves with what `settle` is given for it. */
  call<T>(message: object, id?: number): Promise<T>;
  /** Ends the call `id` with its value, or its error; an unknown id (a call already failed) is ignored. */
  settle(id: number, outcome: { value: unknown } | { error: Error }): void;
  /** Rejects every call in flight, and every later one, with `error`. */
  failAll(error: Error): void;
};

export function threadCalls(worker: Worker): ThreadCalls {
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let lastId = 0;
  let failed: Error | null = null;
  return {
    call: <T>(message: object, id = ++lastId) => {
      if (failed) return Promise.reject(failed);
      if (pending.size === 0) worker.ref();
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
        worker.postMessage({ ...message, id });
      });
    },
    settle: (id, outcome) => {
      const call = pending.get(id);
      if (!call) return;
      pending.delete(id);
      if (pending.size === 0) worker.unref();
      if ('error' in outcome) call.reject(outcome.error);
      else call.resolve(outcome.value);
    },
    failAll: (error) => {
      failed ??= error;
      for (const { reject } of pending.values()) reject(error);
      pending.clear();
    },
  };
}
