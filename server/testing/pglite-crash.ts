// Killing the embedded queue's PGlite thread from a test (see pglite-crashing-thread.ts).
import { BroadcastChannel } from 'node:worker_threads';

/** The broadcast channel the crashing thread listens on. */
export const CRASH_CHANNEL = 'abs-test-pglite-crash';

/** The thread module to start instead of jobs/pglite-thread.ts (`ThreadSupervision.script`, QueueBackend's `thread`). */
export const crashingThread = new URL('./pglite-crashing-thread.ts', import.meta.url);

/** Ends every crashing PGlite thread of this process (exit code 70). */
export function crashPgliteThreads(): void {
  const channel = new BroadcastChannel(CRASH_CHANNEL);
  channel.postMessage('crash');
  channel.close();
}
