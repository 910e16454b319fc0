// Calls to a worker thread by message: each call carries an id and is answered by one message with that id.
// The thread keeps the process alive only while a call is in flight; once the thread has failed, every call in
// flight and every later one rejects with its error. Shared by the SQLite reader and the PGlite thread, as is the
// collection of a thread's own heap (each V8 isolate collects only its own).
import { getHeapStatistics } from 'node:v8';
import type { Worker } from 'node:worker_threads';

export type Gc = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/** `globalThis.gc`, there when node runs with --expose-gc (SERVER_NODE_ARGS; worker threads share the flag). */
export const exposedGc = (): Gc | undefined => (globalThis as { gc?: Gc }).gc;

/**
 * V8's "last resort" collection on the calling thread's heap: several full collections that also give back the
 * pages V8 pools for reuse (a regular major collection frees the garbage but keeps them).
 */
export const lastResortCollection = (gc: Gc) => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });

/** A thread's V8 heap around a collection it was asked for, in bytes; null without --expose-gc. */
export type Collected = { before: number; after: number } | null;

/** The calling thread's own heap collected (lastResortCollection), with its size around it. */
export function collectThisThread(): Collected {
  const gc = exposedGc();
  if (!gc) return null;
  const before = getHeapStatistics().total_heap_size;
  lastResortCollection(gc);
  return { before, after: getHeapStatistics().total_heap_size };
}

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
