// An old Node (20 here, as many machines still have) gets one line naming the version needed, from every
// entry point a user runs, instead of ERR_UNKNOWN_FILE_EXTENSION; the version this suite runs on starts fine.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PRELOAD } from '../server/testing/processes.ts';

/** A real Node 20: `.ci/run` installs npm's `node@20` package into /opt/node20. */
const oldNode = process.env.TEST_OLD_NODE ?? '/opt/node20/bin/node';

const run = (node: string, args: string[]) =>
  spawnSync(node, args, { env: { PATH: process.env.PATH, DATABASE_URL: ':memory:', PORT: '0' }, encoding: 'utf8', timeout: 60_000 });

describe('the Node.js floor', () => {
  it.skipIf(!existsSync(oldNode)).each([
    ['npm start', [...PRELOAD, 'server/main.ts']],
    ['npm run worker', [...PRELOAD, 'jobs/worker.ts']],
    ['npm run db:migrate', [...PRELOAD, 'scripts/db-migrate.ts']],
    ['npm test', ['node_modules/vitest/vitest.mjs', 'run', '--config', 'vitest.config.ts']],
  ])('%s on Node 20 exits 1 with one line that names the version needed', (_command, args) => {
    const result = run(oldNode, args);
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^ai-backend-service needs Node\.js 22\.18 or later .*this is v20\.\d+\.\d+\. Install it /);
  });

  it('lets the running Node through: a migration script runs to the end', () => {
    const result = run(process.execPath, [...PRELOAD, 'scripts/db-migrate.ts']);
    expect(result.stderr).not.toContain('needs Node.js');
    expect(result.status).toBe(0);
  });
});
