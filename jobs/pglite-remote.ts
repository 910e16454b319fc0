// The embedded queue's PGlite, opened on a worker thread (jobs/pglite-thread.ts) and used from this one through
// messages. PGlite runs Postgres in WASM on the thread that calls it: its start (a second or so warm, several on a
// first run's initdb) and each pg-boss statement would otherwise hold the event loop that serves requests.
import { Worker } from 'node:worker_threads';
import type { PGliteLike } from 'pg-boss';
import { threadCalls } from '../db/thread-calls.ts';

export type ThreadOptions = { dataDir: string | null; settings: readonly string[] };

type QueryResult = { rows: unknown[]; affectedRows?: number | undefined };

export type PgliteRequest =
  | { op: 'query'; id: number; text: string; values: unknown[] | undefined }
  | { op: 'exec'; id: number; text: string }
  | { op: 'listen'; id: number; channel: string }
  | { op: 'unlisten'; id: number; subscription: number }
  | { op: 'dump'; id: number; compression: 'gzip' | 'none' }
  | { op: 'close'; id: number };

/** What the thread sends back: an error as plain data, since a message keeps only an Error's message and stack. */
export type SerializedError = { name: string; message: string; stack?: string | undefined; fields: Record<string, unknown> };

export type PgliteResponse =
  | { kind: 'ready' }
  | { kind: 'failed'; error: SerializedError }
  | { kind: 'result'; id: number; value: unknown }
  | { kind: 'error'; id: number; error: SerializedError }
  | { kind: 'notification'; subscription: number; payload: string };

/** PGlite as pg-boss's adapter (fromPglite) and the queue's snapshot use it. */
export type RemotePglite = PGliteLike & {
  query<T = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: T[]; affectedRows?: number | undefined }>;
  exec(text: string): Promise<QueryResult[]>;
  listen(channel: string, callback: (payload: string) => void): Promise<() => Promise<void>>;
  dumpDataDir(compression: 'gzip' | 'none'): Promise<Blob>;
  close(): Promise<void>;
};

function revive(error: SerializedError): Error {
  const revived = Object.assign(new Error(error.message), error.fields);
  revived.name = error.name;
  if (error.stack) revived.stack = error.stack;
  return revived;
}

/**
 * Starts PGlite on a worker thread (in `dataDir`, or in memory) and resolves once it is open; `signal` ends a start
 * still under way. The thread keeps the process alive only while a call is in flight.
 */
export async function openPgliteThread(options: ThreadOptions, signal?: AbortSignal): Promise<RemotePglite> {
  signal?.throwIfAborted();
  // Type stripping needs no flags; the parent's --import preload (tracing, the version check) is not for this thread.
  // V8 flags are the process's: under `npm start`'s --expose-gc the thread has gc() too (see pglite-thread.ts).
  const worker = new Worker(new URL('./pglite-thread.ts', import.meta.url), { workerData: options, execArgv: [] });
  const calls = threadCalls(worker);
  const listeners = new Map<number, (payload: string) => void>();
  let exited: Error | null = null;

  let started: { resolve: () => void; reject: (error: Error) => void } | null = null;
  const opened = new Promise<void>((resolve, reject) => (started = { resolve, reject }));
  const failAll = (error: Error) => {
    exited = error;
    started?.reject(error);
    calls.failAll(error);
  };
  worker.on('error', (error: Error) => failAll(error));
  worker.on('exit', (code) => failAll(new Error(`the PGlite thread exited (${code})`)));
  worker.on('message', (message: PgliteResponse) => {
    if (message.kind === 'ready') return started?.resolve();
    if (message.kind === 'failed') return started?.reject(revive(message.error));
    if (message.kind === 'notification') return listeners.get(message.subscription)?.(message.payload);
    calls.settle(message.id, message.kind === 'result' ? { value: message.value } : { error: revive(message.error) });
  });
  // A shutdown while PGlite still starts (a first run's initdb can take a while) ends the thread instead of waiting.
  const onAbort = () => void worker.terminate();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await opened;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  started = null;
  worker.unref();

  const call = <T>(request: { op: PgliteRequest['op'] } & Record<string, unknown>, id?: number): Promise<T> => calls.call<T>(request, id);

  return {
    query: <T>(text: string, values?: unknown[]) => call<{ rows: T[]; affectedRows?: number }>({ op: 'query', text, values }),
    exec: (text) => call<QueryResult[]>({ op: 'exec', text }),
    listen: async (channel, callback) => {
      const subscription = calls.nextId();
      listeners.set(subscription, callback);
      await call<null>({ op: 'listen', channel }, subscription);
      return async () => {
        listeners.delete(subscription);
        if (!exited) await call<null>({ op: 'unlisten', subscription });
      };
    },
    dumpDataDir: async (compression) => {
      const bytes = await call<ArrayBuffer>({ op: 'dump', compression });
      return new Blob([bytes], { type: compression === 'gzip' ? 'application/x-gzip' : 'application/x-tar' });
    },
    close: async () => {
      if (exited) return;
      await call<null>({ op: 'close' });
      await worker.terminate();
    },
  };
}
