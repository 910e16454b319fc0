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
    // Hang guards, not promises (a test that bounds a time says so itself). A busy 2-core machine can take 20 s to
    // start the first embedded queue; at a load average of 25-33 (other suites and benchmarks beside this one) a
    // file's beforeAll starting its in-memory PGlite queue took over 60 s, and one Argon2id registration test 209 s.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    // expect.poll waits for what must happen eventually (a job run, a mail, a reconnect): the same kind of guard.
    // A test whose wait is the product's promise measures that time itself and asserts on it.
    expect: { poll: { timeout: 240_000 } },
    // Tests assert on their own logs when they need them; LOG_LEVEL=debug npm test shows the rest.
    env: { NODE_ENV: 'test' },
  },
});
