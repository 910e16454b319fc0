// Read-only statements on a second connection to the app's SQLite file, on a worker thread
// (db/sqlite-reader-thread.ts). better-sqlite3 runs a statement on the thread that calls it, so a query that takes
// many milliseconds holds every other request of the process meanwhile: an FTS5 phrase whose trigrams are all
// common reads their whole doclists (about 15 ms at 1,000,000 posts). Sent here, it waits on its own thread.
// WAL lets this connection read while the main one writes; it sees what has committed when the statement starts.
import { Worker } from 'node:worker_threads';

export type ReaderRequest = { id: number; text: string; params: unknown[] };
export type ReaderResponse = { id: number; rows: unknown[][] } | { id: number; error: { message: string; code: string | undefined } };

export type SqliteReader = {
  /** The statement's rows as arrays of column values (better-sqlite3's raw mode). */
  values(text: string, params: unknown[]): Promise<unknown[][]>;
  close(): Promise<void>;
};

/**
 * A reader for the SQLite file at `path`. Its thread starts with the first statement (a process that never
 * searches never pays for it) and keeps the process alive only while a statement is in flight; a thread that dies
 * fails the statements in flight and is started again by the next one.
 */
export function openSqliteReader(path: string): SqliteReader {
  let worker: Worker | null = null;
  let closed = false;
  let nextId = 1;
  const pending = new Map<number, { resolve: (rows: unknown[][]) => void; reject: (error: Error) => void }>();

  const start = (): Worker => {
    // Type stripping needs no flags; the parent's --import preload (tracing, the version check) is not for this thread.
    const thread = new Worker(new URL('./sqlite-reader-thread.ts', import.meta.url), { workerData: { path }, execArgv: [] });
    const failAll = (error: Error) => {
      if (worker === thread) worker = null;
      for (const { reject } of pending.values()) reject(error);
      pending.clear();
    };
    thread.on('error', failAll);
    thread.on('exit', (code) => failAll(new Error(`the SQLite reader thread exited (${code})`)));
    thread.on('message', (message: ReaderResponse) => {
      const call = pending.get(message.id);
      if (!call) return;
      pending.delete(message.id);
      if (pending.size === 0) thread.unref();
      if ('rows' in message) call.resolve(message.rows);
      else call.reject(Object.assign(new Error(message.error.message), message.error.code ? { code: message.error.code } : {}));
    });
    return thread;
  };

  return {
    values: (text, params) => {
      if (closed) return Promise.reject(new Error('the SQLite reader is closed'));
      const thread = (worker ??= start());
      const id = nextId++;
      if (pending.size === 0) thread.ref();
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        thread.postMessage({ id, text, params } satisfies ReaderRequest);
      });
    },
    close: async () => {
      closed = true;
      const thread = worker;
      worker = null;
      await thread?.terminate();
    },
  };
}
