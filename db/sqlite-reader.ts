// Read-only statements on a second connection to the app's SQLite file, on a worker thread
// (db/sqlite-reader-thread.ts). better-sqlite3 runs a statement on the thread that calls it, so a query that takes
// many milliseconds holds every other request of the process meanwhile: an FTS5 phrase whose trigrams are all
// common reads their whole doclists (about 15 ms at 1,000,000 posts). Sent here, it waits on its own thread.
// WAL lets this connection read while the main one writes; it sees what has committed when the statement starts.
import { Worker } from 'node:worker_threads';
import { threadCalls, type ThreadCalls } from './thread-calls.ts';

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
  let current: { thread: Worker; calls: ThreadCalls } | null = null;
  let closed = false;

  const start = () => {
    // Type stripping needs no flags; the parent's --import preload (tracing, the version check) is not for this thread.
    const thread = new Worker(new URL('./sqlite-reader-thread.ts', import.meta.url), { workerData: { path }, execArgv: [] });
    const calls = threadCalls(thread);
    const started = { thread, calls };
    const failAll = (error: Error) => {
      if (current === started) current = null;
      calls.failAll(error);
    };
    thread.on('error', failAll);
    thread.on('exit', (code) => failAll(new Error(`the SQLite reader thread exited (${code})`)));
    thread.on('message', (message: ReaderResponse) =>
      calls.settle(
        message.id,
        'rows' in message
          ? { value: message.rows }
          : { error: Object.assign(new Error(message.error.message), message.error.code ? { code: message.error.code } : {}) },
      ),
    );
    // Idle until the first statement: only a call in flight keeps the process alive.
    thread.unref();
    return started;
  };

  return {
    values: (text, params) => {
      if (closed) return Promise.reject(new Error('the SQLite reader is closed'));
      return (current ??= start()).calls.call<unknown[][]>({ text, params } satisfies Omit<ReaderRequest, 'id'>);
    },
    close: async () => {
      closed = true;
      const thread = current?.thread;
      current = null;
      await thread?.terminate();
    },
  };
}
