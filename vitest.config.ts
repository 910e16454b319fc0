// vitest: every *.test.ts outside node_modules and the SDK's build output; files run in parallel processes.
// An old Node stops here with one line that says which version is needed.
import './server/runtime/node-version.mjs';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{server,db,jobs,scripts,client-sdk}/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'client-sdk/dist/**'],
    globalSetup: ['server/testing/global-setup.ts'],
    pool: 'forks',
    // Each test process loads packages the way our processes do (server/preload.mjs): seconds faster.
    execArgv: ['--import', './server/preload.mjs'],
    // Most tests wait on databases, queues and timers, not the CPU: more files at once than cores pays off.
    maxWorkers: 4,
    // Hang guards, not promises: a busy 2-core machine can take 20 s to start the first embedded queue.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests assert on their own logs when they need them; LOG_LEVEL=debug npm test shows the rest.
    env: { NODE_ENV: 'test' },
  },
});
