// The embedded queue's PGlite thread (jobs/pglite-thread.ts) that a test can kill: a message on the broadcast
// channel of pglite-crash.ts ends it with exit code 70, as a WebAssembly abort or an uncaught error ends the real one.
import { BroadcastChannel } from 'node:worker_threads';

const crash = new BroadcastChannel('abs-test-pglite-crash');
crash.unref();
crash.onmessage = () => process.exit(70);
await import('../../jobs/pglite-thread.ts');
