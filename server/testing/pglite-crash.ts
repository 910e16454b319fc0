// Killing the embedded queue's PGlite thread from a test (see pglite-crashing-thread.ts).
import { BroadcastChannel } from 'node:worker_threads';

/** The thread module to start instead of jobs/pglite-thread.ts (QueueBackend's `threadScript`). */
export const crashingThread = new URL('./pglite-crashing-thread.ts', import.meta.url);

/** Ends every crashing PGlite thread of this process (exit code 70). */
export function crashPgliteThreads(): void {
  const channel = new BroadcastChannel('abs-test-pglite-crash');
  channel.postMessage('crash');
  channel.close();
}
