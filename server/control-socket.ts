// The embedded default's data directory is one process's at a time (PGlite cannot be shared): the process that
// has it listens on a Unix socket inside it. A second server, `npm run restore` and `npm run backup` find it
// there: the first two refuse to start, the backup asks the server to take the copy.
import { chmod, mkdir, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { BackupManifest } from './backup.ts';

const SOCKET_NAME = 'control.sock';
/** Linux's limit on a socket path is 108 bytes, with the terminating NUL. */
const MAX_SOCKET_PATH = 107;
const MAX_REQUEST_BYTES = 64 * 1024;

export const controlRequest = z.discriminatedUnion('command', [
  z.object({ command: z.literal('status') }),
  z.object({ command: z.literal('backup'), out: z.string().min(1) }),
]);
export type ControlRequest = z.infer<typeof controlRequest>;
export type ControlResponse = { ok: true; pid: number; holder: string; manifest?: BackupManifest } | { ok: false; pid: number; holder: string; error: string };

export type ControlHandlers = { backup: (out: string) => Promise<BackupManifest> };

export type DataDirClaim = {
  readonly socketPath: string;
  /** Answers backup requests from now on (before, they are told the process is still starting). */
  serve: (handlers: ControlHandlers) => void;
  release: () => Promise<void>;
};

/** Another process holds the data directory. */
export class DataDirBusyError extends Error {
  override name = 'DataDirBusyError';
  readonly dataDir: string;
  readonly holder: { pid: number; holder: string } | null;
  constructor(dataDir: string, holder: { pid: number; holder: string } | null) {
    super(`${dataDir} is in use by ${holder ? `${holder.holder} (pid ${holder.pid})` : 'another process'}; stop it first`);
    this.dataDir = dataDir;
    this.holder = holder;
  }
}

export function controlSocketPath(dataDir: string): string {
  return join(resolve(dataDir), SOCKET_NAME);
}

/**
 * Sends one request to the process holding `dataDir`; null when none does (no socket, or a stale one a crashed
 * process left behind).
 */
export async function askHolder(dataDir: string, request: ControlRequest, timeoutMs = 10 * 60_000): Promise<ControlResponse | null> {
  const path = controlSocketPath(dataDir);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) return null;
  return new Promise((resolvePromise, reject) => {
    const socket = connect(path);
    let answer = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer on ${path} within ${timeoutMs} ms`)));
    socket.on('connect', () => socket.end(`${JSON.stringify(request)}\n`));
    socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => {
      try {
        resolvePromise(JSON.parse(answer) as ControlResponse);
      } catch {
        reject(new Error(`unreadable answer on ${path}`));
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') resolvePromise(null);
      else reject(error);
    });
  });
}

/**
 * Takes `dataDir` for this process, or throws DataDirBusyError. A socket file left by a process that died is
 * replaced. Returns null, taking nothing, where the path is too long for a Unix socket (a deep test directory):
 * the caller goes on unguarded.
 */
export async function claimDataDir(dataDir: string, holder: string): Promise<DataDirClaim | null> {
  const path = controlSocketPath(dataDir);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) return null;
  await mkdir(resolve(dataDir), { recursive: true });
  let handlers: ControlHandlers | null = null;
  const server = createServer({ allowHalfOpen: true }, (socket) => answer(socket, holder, () => handlers));
  await listenOrReplaceStale(server, path, dataDir);
  await chmod(path, 0o600);
  server.unref();
  return {
    socketPath: path,
    serve: (next) => {
      handlers = next;
    },
    release: () => new Promise<void>((done) => server.close(() => done())),
  };
}

async function listenOrReplaceStale(server: Server, path: string, dataDir: string): Promise<void> {
  const listen = () =>
    new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen(path, () => {
        server.off('error', fail);
        done();
      });
    });
  try {
    await listen();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    const status = await askHolder(dataDir, { command: 'status' }, 5_000).catch(() => undefined);
    if (status !== null) throw new DataDirBusyError(dataDir, status ?? null);
    await unlink(path).catch(() => undefined);
    await listen();
  }
}

function answer(socket: Socket, holder: string, handlers: () => ControlHandlers | null): void {
  let request = '';
  const reply = (response: Record<string, unknown>) => socket.end(`${JSON.stringify({ pid: process.pid, holder, ...response })}\n`);
  socket.setEncoding('utf8');
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: string) => {
    request += chunk;
    if (Buffer.byteLength(request) > MAX_REQUEST_BYTES) socket.destroy();
  });
  socket.on('end', () => {
    let parsed: ControlRequest;
    try {
      parsed = controlRequest.parse(JSON.parse(request));
    } catch {
      reply({ ok: false, error: 'not a request this process understands' });
      return;
    }
    if (parsed.command === 'status') {
      reply({ ok: true });
      return;
    }
    const current = handlers();
    if (!current) {
      reply({ ok: false, error: `${holder} is still starting; try again in a moment` });
      return;
    }
    current.backup(parsed.out).then(
      (manifest) => reply({ ok: true, manifest }),
      (error: unknown) => reply({ ok: false, error: error instanceof Error ? error.message : String(error) }),
    );
  });
}
