// The node arguments our processes start with, for what starts them from code (tests, the benchmark).

/** What `npm start`, `npm run worker` and the scripts put before their entry point (server/preload.mjs). */
export const PRELOAD: string[] = ['--import', './server/preload.mjs'];

/**
 * What `npm start`, `npm run dev` and `npm run worker` put before their entry point (and the image's NODE_OPTIONS
 * holds): `gc` for the idle collector (idle-gc.ts), and the preload.
 */
export const SERVER_NODE_ARGS: string[] = ['--expose-gc', ...PRELOAD];
