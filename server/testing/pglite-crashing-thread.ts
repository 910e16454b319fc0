// The embedded queue's PGlite thread (jobs/pglite-thread.ts) that a test can kill: a message on the broadcast
// channel CRASH_CHANNEL (pglite-crash.ts) ends it with exit code 70, as a WebAssembly abort or an uncaught error ends the real one.
import { BroadcastChannel } from 'node:worker_threads';
import { CRASH_CHANNEL } from './pglite-crash.ts';

const crash = new BroadcastChannel(CRASH_CHANNEL);
crash.unref();
crash.onmessage = () => process.exit(70);
await import('../../jobs/pglite-thread.ts');
