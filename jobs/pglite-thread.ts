// The embedded queue's PGlite on a thread of its own (started by jobs/pglite-remote.ts): its start (initdb on a
// first run) and every pg-boss statement run here, off the event loop that serves requests.
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { exposedGc, lastResortCollection } from '../server/runtime/idle-gc.ts';
import type { PgliteRequest, PgliteResponse, SerializedError, ThreadOptions } from './pglite-remote.ts';

const port = parentPort!;
const options = workerData as ThreadOptions;

/** Errors lose their own fields (a Postgres error's code, detail, constraint) in a message: sent as plain data. */
function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (value === undefined || typeof value === 'function') continue;
    // Only what clones: a field holding something else (a driver's object) is left out.
    try {
      structuredClone(value);
      fields[key] = value;
    } catch {
      // not cloneable: dropped
    }
  }
  return { name: error.name, message: error.message, stack: error.stack, fields };
}

const reply = (message: PgliteResponse, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

const unlisteners = new Map<number, () => Promise<void>>();

/**
 * The message listener goes on before PGlite starts: it keeps this thread's event loop alive while the start awaits
 * its WebAssembly compilation. Without it the loop empties and Node parks the thread until V8's background tasks
 * finish (NodePlatform::DrainTasks); a compile task that needs this heap collected then waits for a thread that
 * waits for it, and the queue never opens (nodejs/node#54918). Under --v8-pool-size=1 that hung 4 starts in 6 in
 * memory and 2 in 4 on disk; an API it hung kept its tasks queued with its main thread spinning at full CPU.
 * The parent sends nothing before `ready`: a request is answered once the start has settled all the same.
 */
const opening = PGlite.create({ dataDir: options.dataDir ?? undefined, startParams: [...PGlite.defaultStartParams, ...options.settings] });
port.on('message', (request: PgliteRequest) => {
  void (async () => {
    try {
      const client = await opening;
      switch (request.op) {
        case 'query': {
          const result = await client.query(request.text, request.values);
          return reply({ kind: 'result', id: request.id, value: { rows: result.rows, affectedRows: result.affectedRows } });
        }
        case 'exec': {
          const results = await client.exec(request.text);
          return reply({ kind: 'result', id: request.id, value: results.map((result) => ({ rows: result.rows, affectedRows: result.affectedRows })) });
        }
        case 'listen': {
          const channel = request.channel;
          const subscription = request.id;
          unlisteners.set(subscription, await client.listen(channel, (payload) => reply({ kind: 'notification', subscription, payload })));
          return reply({ kind: 'result', id: request.id, value: null });
        }
        case 'unlisten': {
          await unlisteners.get(request.subscription)?.();
          unlisteners.delete(request.subscription);
          return reply({ kind: 'result', id: request.id, value: null });
        }
        case 'dump': {
          const blob = await client.dumpDataDir(request.compression);
          const bytes = await blob.arrayBuffer();
          return reply({ kind: 'result', id: request.id, value: bytes }, [bytes]);
        }
        case 'collect': {
          const gc = exposedGc();
          if (!gc) return reply({ kind: 'result', id: request.id, value: null });
          const before = getHeapStatistics().total_heap_size;
          lastResortCollection(gc);
          return reply({ kind: 'result', id: request.id, value: { before, after: getHeapStatistics().total_heap_size } });
        }
        case 'close': {
          await client.close();
          reply({ kind: 'result', id: request.id, value: null });
          port.close();
          return;
        }
      }
    } catch (error) {
      reply({ kind: 'error', id: request.id, error: serializeError(error) });
    }
  })();
});

try {
  await opening;
  // The start leaves tens of megabytes of garbage (the WASM build's bytes, the data directory's archive); this
  // thread then idles between statements, so V8 would keep that heap resident: collected once, now.
  (globalThis as { gc?: () => void }).gc?.();
  reply({ kind: 'ready' });
} catch (error) {
  reply({ kind: 'failed', error: serializeError(error) });
  process.exit(1);
}
