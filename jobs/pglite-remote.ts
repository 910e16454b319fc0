// The embedded queue's PGlite, opened on a worker thread (jobs/pglite-thread.ts) and used from this one through
// messages. PGlite runs Postgres in WASM on the thread that calls it: its start (a second or so warm, several on a
// first run's initdb) and each pg-boss statement would otherwise hold the event loop that serves requests.
import { spawn as spawnProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { PGliteLike } from 'pg-boss';
import { threadCalls, type ThreadCalls } from '../db/thread-calls.ts';

export type ThreadOptions = { dataDir: string | null; settings: readonly string[] };

type QueryResult = { rows: unknown[]; affectedRows?: number | undefined };

export type PgliteRequest =
  | { op: 'query'; id: number; text: string; values: unknown[] | undefined }
  | { op: 'exec'; id: number; text: string }
  | { op: 'listen'; id: number; channel: string }
  | { op: 'unlisten'; id: number; subscription: number }
  | { op: 'dump'; id: number; compression: 'gzip' | 'none' }
  | { op: 'collect'; id: number }
  | { op: 'close'; id: number };

/** The thread's V8 heap around a collection it was asked for (`collect`), in bytes; null without --expose-gc. */
export type Collected = { before: number; after: number } | null;

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
  /** Called each time a new thread has replaced one that died (pg-boss's adapter then treats it as a new session). */
  onLeaderChange(callback: () => void): () => void;
  dumpDataDir(compression: 'gzip' | 'none'): Promise<Blob>;
  /**
   * A full collection of the thread's own V8 heap (V8's last-resort flavor, which also gives pooled pages back).
   * The process's idle collector collects the main thread only; the thread's heap, grown by a load's statements
   * and their messages, stayed resident once the thread went quiet.
   */
  collect(): Promise<Collected>;
  close(): Promise<void>;
};

/** What the owner hears of the thread's deaths, and (tests) which module runs as the thread. */
export type ThreadSupervision = {
  /** A thread died and a new one has opened the same data directory: `restarts` within the last minute. */
  onRestart?: (error: Error, restarts: number) => void;
  /** The thread died too often, or its replacement could not open: every call fails from here on with `error`. */
  onGiveUp?: (error: Error) => void;
  /** The thread's module: jobs/pglite-thread.ts unless a test wraps it. */
  script?: URL | undefined;
  /** How many deaths within `windowMs` are restarted; the next one is given up. Default: 3 within a minute. */
  restarts?: { max: number; windowMs: number } | undefined;
};

/** A thread that dies as it opens would otherwise be restarted for ever. */
const RESTARTS = { max: 3, windowMs: 60_000 };

type Thread = { worker: Worker; calls: ThreadCalls };

function revive(error: SerializedError): Error {
  const revived = Object.assign(new Error(error.message), error.fields);
  revived.name = error.name;
  if (error.stack) revived.stack = error.stack;
  return revived;
}

/**
 * Starts PGlite on a worker thread (in `dataDir`, or in memory) and resolves once it is open; `signal` ends a start
 * still under way. The thread keeps the process alive only while a call is in flight.
 *
 * A thread that dies once open (a WebAssembly abort, a bug of ours in it) fails the calls it had in flight and is
 * replaced by a new one on the same data directory, which Postgres' crash recovery brings back to its last commit;
 * calls made meanwhile wait for it, listeners are subscribed again, and pg-boss's adapter hears of it as a leader
 * change. Before this, the queue stayed dead until the process restarted while readiness said all was well.
 */
export async function openPgliteThread(options: ThreadOptions, signal?: AbortSignal, supervision: ThreadSupervision = {}): Promise<RemotePglite> {
  const listeners = new Map<number, { channel: string; callback: (payload: string) => void }>();
  const leaderChanges = new Set<() => void>();
  /** Ids for every call to every thread, so a subscription keeps its id on the thread that replaces its own. */
  let lastId = 0;
  let thread: Thread | null = null;
  let replacing: Promise<Thread> | null = null;
  let down: Error | null = null;
  let closed = false;
  const closing = new AbortController();
  const deaths: number[] = [];

  const spawn = async (startSignal: AbortSignal | undefined): Promise<Thread> => {
    startSignal?.throwIfAborted();
    // Type stripping needs no flags; the parent's --import preload (tracing, the version check) is not for this thread.
    // V8 flags are the process's: under `npm start`'s --expose-gc the thread has gc() too (see pglite-thread.ts).
    const worker = new Worker(supervision.script ?? new URL('./pglite-thread.ts', import.meta.url), { workerData: options, execArgv: [] });
    const calls = threadCalls(worker);
    let started: { resolve: () => void; reject: (error: Error) => void } | null = null;
    const opened = new Promise<void>((resolve, reject) => (started = { resolve, reject }));
    const fail = (error: Error) => {
      started?.reject(error);
      calls.failAll(error);
    };
    worker.on('error', (error: Error) => fail(error));
    worker.on('exit', (code) => {
      const error = new Error(`the PGlite thread exited (${code})`);
      fail(error);
      if (thread?.worker === worker) replace(error);
    });
    worker.on('message', (message: PgliteResponse) => {
      if (message.kind === 'ready') return started?.resolve();
      if (message.kind === 'failed') return started?.reject(revive(message.error));
      if (message.kind === 'notification') return listeners.get(message.subscription)?.callback(message.payload);
      calls.settle(message.id, message.kind === 'result' ? { value: message.value } : { error: revive(message.error) });
    });
    // A shutdown while PGlite still starts (a first run's initdb can take a while) ends the thread instead of waiting.
    const onAbort = () => void worker.terminate();
    startSignal?.addEventListener('abort', onAbort, { once: true });
    try {
      await opened;
    } finally {
      startSignal?.removeEventListener('abort', onAbort);
    }
    started = null;
    worker.unref();
    return { worker, calls };
  };

  const giveUp = (error: Error) => {
    down = new Error(`the job queue's PGlite thread stopped and could not be restarted: ${error.message}`, { cause: error });
    supervision.onGiveUp?.(down);
  };

  function replace(error: Error): void {
    thread = null;
    if (closed) return;
    const now = Date.now();
    deaths.push(now);
    const { max, windowMs } = supervision.restarts ?? RESTARTS;
    while (deaths[0] < now - windowMs) deaths.shift();
    if (deaths.length > max) return giveUp(error);
    replacing = (async () => {
      const next = await spawn(closing.signal);
      for (const [subscription, { channel }] of listeners) await next.calls.call<null>({ op: 'listen', channel }, subscription);
      return next;
    })();
    replacing.then(
      (next) => {
        replacing = null;
        thread = next;
        supervision.onRestart?.(error, deaths.length);
        for (const callback of leaderChanges) callback();
      },
      (failure: unknown) => {
        replacing = null;
        if (!closed) giveUp(failure instanceof Error ? failure : new Error(String(failure)));
      },
    );
  }

  if (options.dataDir) await createDataDir(options.dataDir, options.settings, signal);
  thread = await spawn(signal);
  const current = async (): Promise<Thread> => {
    if (replacing) await replacing.catch(() => {});
    // A new error per call: callers annotate what they catch (pg-boss appends its queue to the message).
    if (down) throw new Error(down.message, { cause: down.cause });
    if (!thread) throw new Error('the PGlite thread exited');
    return thread;
  };
  const call = async <T>(request: { op: PgliteRequest['op'] } & Record<string, unknown>, id = ++lastId): Promise<T> => (await current()).calls.call<T>(request, id);

  return {
    query: <T>(text: string, values?: unknown[]) => call<{ rows: T[]; affectedRows?: number }>({ op: 'query', text, values }),
    exec: (text) => call<QueryResult[]>({ op: 'exec', text }),
    listen: async (channel, callback) => {
      const subscription = ++lastId;
      listeners.set(subscription, { channel, callback });
      await call<null>({ op: 'listen', channel }, subscription);
      return async () => {
        listeners.delete(subscription);
        // While a replacement opens, this waits for it: it may have subscribed again already.
        if (!closed && !down) await call<null>({ op: 'unlisten', subscription });
      };
    },
    onLeaderChange: (callback) => {
      leaderChanges.add(callback);
      return () => leaderChanges.delete(callback);
    },
    dumpDataDir: async (compression) => {
      const bytes = await call<ArrayBuffer>({ op: 'dump', compression });
      return new Blob([bytes], { type: compression === 'gzip' ? 'application/x-gzip' : 'application/x-tar' });
    },
    collect: () => call<Collected>({ op: 'collect' }),
    close: async () => {
      if (closed) return;
      closed = true;
      closing.abort();
      await replacing?.catch(() => {});
      const last = thread;
      if (!last) return;
      await last.calls.call<null>({ op: 'close' }, ++lastId).catch(() => {});
      await last.worker.terminate();
    },
  };
}

/**
 * A first run's database is made (initdb) in a child process, and then opened as every later start opens it. Made by
 * the thread that then serves it, the process kept what initdb had grown for as long as it ran: 554 MiB 8 s after
 * the queue opened, against 302 MiB for a warm start (measured in a process of its own; WebAssembly memory never
 * shrinks, and with initdb in a thread of its own that then ended, 468 MiB: glibc keeps the arenas that thread
 * used). It costs a first run a process start and a warm open: its queue opened about 1 s later (3.9 → 5.0 s).
 *
 * The child makes it beside `dataDir` and it is renamed into place once closed: a first run stopped during
 * initdb leaves no half-made database to open next time. A directory that holds something else is left to PGlite.
 *
 * Each start makes it in a staging directory of its own (`<dataDir>.creating-<random>`). A process killed during
 * initdb (SIGKILL, the OOM killer) cannot stop its child, which went on writing into the one staging directory
 * every start used: the next start's removal of it failed (ENOTEMPTY) and the API exited with "could not start"
 * (seen in the SIGKILL-loop test, jobs/outbox-crash.test.ts), and had it succeeded, two initdbs would have written
 * one directory. The child now also exits when its parent does (its stdin closes), and the staging directories
 * left by earlier starts are removed at every start, as far as they can be (one an orphan still writes may fail:
 * the next start tries again). Only one process at a time opens a data directory (claimDataDir), so no other
 * staging directory can belong to a live start.
 */
async function createDataDir(dataDir: string, settings: readonly string[], signal: AbortSignal | undefined): Promise<void> {
  removeStagingLeftovers(dataDir);
  if (existsSync(join(dataDir, 'PG_VERSION'))) return;
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) return;
  signal?.throwIfAborted();
  const reserved = mkdtempSync(`${dataDir}.creating-`);
  const staging = join(reserved, 'queue');
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawnProcess(process.execPath, [fileURLToPath(new URL('./pglite-create.ts', import.meta.url)), staging, JSON.stringify(settings)], {
        // stdin stays open while this process lives: the child exits when it reads its end.
        stdio: ['pipe', 'ignore', 'pipe'],
        signal,
      });
      let stderr = '';
      let failure: Error | null = null;
      child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
      // A child that started (stopped by `signal`, say) is waited for: the staging directory goes once it has exited.
      child.once('error', (error) => {
        failure = error;
        if (child.pid === undefined) reject(error);
      });
      child.once('close', (code, exitSignal) => {
        if (failure) return reject(failure);
        if (code === 0) return resolve();
        reject(new Error(`creating the job queue's database failed (${exitSignal ?? `exit code ${code}`}): ${stderr.trim().split('\n').at(-1) ?? ''}`));
      });
    });
    if (existsSync(dataDir)) rmdirSync(dataDir);
    renameSync(staging, dataDir);
  } finally {
    rmSync(reserved, { recursive: true, force: true });
  }
}

/** Staging directories of earlier starts beside `dataDir` (and the single `.creating` of earlier versions), removed as far as they can be. */
function removeStagingLeftovers(dataDir: string): void {
  const parent = dirname(dataDir);
  const prefix = `${basename(dataDir)}.creating`;
  if (!existsSync(parent)) return;
  for (const name of readdirSync(parent)) {
    if (name !== prefix && !name.startsWith(`${prefix}-`)) continue;
    try {
      rmSync(join(parent, name), { recursive: true, force: true, maxRetries: 2 });
    } catch {
      // An orphaned initdb still writes there: it exits once it sees its parent gone, and the next start removes it.
    }
  }
}
