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
    // --no-wasm-code-gc: a test process opens and closes dozens of PGlite instances on worker threads, and Node 24's
    // V8 can abort the whole process when several threads free WebAssembly code ("Check failed:
    // jit_page_->allocations_.erase(addr) == 1" in ThreadIsolation::UnregisterWasmAllocation; a loaded whole-suite
    // run here lost jobs/tasks.test.ts to it). A V8 bug fixed upstream, not yet in Node 24.21. Tests only: a server
    // holds one PGlite for its life, and the flag costs it 38 MiB of RSS (measured).
    execArgv: ['--no-wasm-code-gc', '--import', './server/preload.mjs'],
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
