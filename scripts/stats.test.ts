// npm run stats: the internal-dashboard command built on the SDK, against a live server on both dialects.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDeps, type Deps } from '../server/deps.ts';
import { createTestDeps, dialects, startTestServer, type TestServer } from '../server/testing/harness.ts';
import { signedInUser } from '../server/testing/factories.ts';
import { PRELOAD } from '../server/testing/processes.ts';

const run = (args: string[]) =>
  promisify(execFile)(process.execPath, [...PRELOAD, 'scripts/stats.ts', ...args], { env: { PATH: process.env.PATH }, encoding: 'utf8' }).then(
    (result) => ({ code: 0, ...result }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );

describe.each(dialects)('npm run stats on %s', (dialect) => {
  let deps: Deps;
  let server: TestServer;
  beforeAll(async () => {
    deps = await createTestDeps(dialect);
    server = await startTestServer(deps);
  });
  afterAll(async () => {
    await server.close();
    await closeDeps(deps);
  });

  it('prints the admin numbers as tables for an admin’s API token', async () => {
    const admin = await signedInUser(deps, { role: 'admin' });
    const { token } = await admin.caller.apiTokens.create({ name: 'dashboard' });
    await admin.caller.posts.create({ title: 'counted', body: 'b', published: true });
    const result = await run(['--url', server.url, '--token', token]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(`version ${deps.version} on ${dialect}`);
    for (const row of ['users', 'active users', 'active sessions', 'posts', 'published posts']) expect(result.stdout).toMatch(new RegExp(`│ ${row}\\s+│ 1\\s+│`));
    expect(result.stdout).toMatch(/│ queued\s+│ 0\s+│/);
    expect(result.stdout).toContain('tasks.run.dead');
    expect(result.stdout).toContain('job outbox: 0 pending\n');
  });

  it('explains a refusal and exits 1', async () => {
    const { token } = await signedInUser(deps);
    const refused = await run(['--url', server.url, '--token', token]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^stats: FORBIDDEN: admin only \(request [\w-]+\)\n$/);
    const missing = await run(['--url', server.url]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('pass --token');
  });
});
