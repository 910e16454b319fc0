// The node arguments our processes start with, for what starts them from code (tests, the benchmark).

/** What `npm start`, `npm run worker` and the scripts put before their entry point (server/preload.mjs). */
export const PRELOAD: string[] = ['--import', './server/preload.mjs'];

/**
 * What `npm start`, `npm run dev` and `npm run worker` put before their entry point (and the image's NODE_OPTIONS
 * holds): `gc` for the idle collector (idle-gc.ts); one V8 background thread instead of four, because each thread
 * that compiles (PGlite's WebAssembly above all) keeps a malloc arena of its own that glibc does not give back
 * (embedded idle RSS 343–362 MiB with four, 277–284 MiB with one, request throughput the same); and the preload.
 */
export const SERVER_NODE_ARGS: string[] = ['--expose-gc', '--v8-pool-size=1', ...PRELOAD];
