// npm run backup / npm run restore against real processes: the embedded default is copied while its server
// keeps taking writes, and the copy comes back whole (rows and queued jobs); on Postgres both point to pg_dump.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { rest } from '../server/testing/http.ts';
import { PRELOAD, startNode, type LogLine } from '../server/testing/processes.ts';

type Run = { code: number; stdout: string; stderr: string };
const run = (script: 'backup' | 'restore', args: string[], env: Record<string, string>): Promise<Run> =>
  promisify(execFile)(process.execPath, [...PRELOAD, `scripts/${script}.ts`, ...args], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' }).then(
    (result) => ({ code: 0, ...result }),
    (error: Run) => error,
  );

const dir = mkdtempSync(join(tmpdir(), 'backup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm run backup and npm run restore on the embedded default (sqlite, PGlite queue)', () => {
  const env = {
    DATABASE_URL: `file:${join(dir, 'data', 'app.db')}`,
    PORT: '0',
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    OUTBOX_DIR: join(dir, 'outbox'),
    RATE_LIMIT_GLOBAL_PER_MINUTE: '1000000',
    RATE_LIMIT_REGISTER_PER_MINUTE: '1000',
  };
  const startApi = async (extra: Record<string, string> = {}) => {
    const api = startNode('server/main.ts', { ...env, ...extra });
    // Starting takes a while on a busy machine (PGlite beside SQLite): nothing here bounds it but the hang guard.
    const { url } = (await api.waitFor('listening')) as LogLine & { url: string };
    return { api, url };
  };
  const stop = async (api: ReturnType<typeof startNode>) => {
    api.child.kill('SIGTERM');
    expect(await api.exited).toBe(0);
  };

  it('copies rows and queued jobs while writes go on, refuses a second holder, and restores them', { timeout: 600_000 }, async () => {
    // Without a worker the tasks stay queued: the backup must carry their jobs.
    const first = await startApi({ WORKER_IN_PROCESS: 'false' });
    const registered = await rest<{ token: string }>(first.url, 'POST', '/api/auth/register', { json: { username: 'keeper', email: 'keeper@example.com', password: 'a long enough password' } });
    expect(registered.status).toBe(201);
    const { token } = registered.body;
    const createPost = async (title: string) => {
      const created = await rest<{ id: string }>(first.url, 'POST', '/api/posts', { token, json: { title, body: 'body', published: true } });
      expect(created.status).toBe(201);
      return created.body.id;
    };
    const tasks: string[] = [];
    for (const numbers of [[1, 2], [3, 4, 5], [10]]) {
      const submitted = await rest<{ id: string; status: string }>(first.url, 'POST', '/api/tasks', { token, json: { type: 'math.sum', input: { numbers } } });
      expect(submitted.body.status).toBe('queued');
      tasks.push(submitted.body.id);
    }
    const before: string[] = [];
    for (let index = 0; index < 20; index++) before.push(await createPost(`before ${index}`));

    // A second server on the same files refuses to start, naming the one that has them.
    const second = startNode('server/main.ts', env);
    expect(await second.exited).toBe(1);
    expect(second.lines.map((line) => line.msg).join('\n')).toMatch(/data is in use by the API server \(pid \d+\); stop it first/);

    // Writes go on, one after another, through the backup and a little after it.
    const during: { id: string; at: number }[] = [];
    const state: { phase: 'running' | 'after' | 'stop' } = { phase: 'running' };
    let afterCount = 0;
    const writer = (async () => {
      for (let index = 0; state.phase !== 'stop'; index++) {
        const id = await createPost(`during ${index}`);
        during.push({ id, at: performance.now() });
        if (state.phase === 'after' && ++afterCount >= 5) state.phase = 'stop';
      }
    })();
    const started = performance.now();
    const backup = await run('backup', ['--out', join(dir, 'copy')], env);
    const finished = performance.now();
    state.phase = 'after';
    await writer;
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    expect(backup.stdout).toMatch(/^backup: .*copy as of .* \(taken by the API server, pid \d+\): app data \d+ bytes, job queue \d+ bytes\n$/);
    // The server answered writes while it took the copy.
    expect(during.filter((write) => write.at > started && write.at < finished).length).toBeGreaterThan(0);

    // Restore refuses while the server runs, and leaves everything as it was.
    const refused = await run('restore', ['--from', join(dir, 'copy')], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^restore: .*data is in use by the API server \(pid \d+\); stop it first\n$/);
    await stop(first.api);

    // With no server running the backup takes the files itself; a directory that is not empty is refused.
    const offline = await run('backup', ['--out', join(dir, 'offline')], env);
    expect(offline.stdout).toContain('taken by this process; no server was running');
    writeFileSync(join(dir, 'offline', 'extra'), 'x');
    const notEmpty = await run('backup', ['--out', join(dir, 'offline')], env);
    expect(notEmpty.code).toBe(1);
    expect(notEmpty.stderr).toMatch(/is not empty/);
    // A directory without a manifest is not a backup.
    const notABackup = await run('restore', ['--from', join(dir, 'outbox')], env);
    expect(notABackup.code).toBe(1);
    expect(notABackup.stderr).toMatch(/manifest\.json is missing/);

    const restored = await run('restore', ['--from', join(dir, 'copy')], env);
    expect(restored.stderr).toBe('');
    expect(restored.stdout).toMatch(/^restore: .*app\.db as of .*, job queue with \d+ jobs; what was there is in .*pre-restore-/);

    // Back up with a worker: every row committed before the backup began is there, and the queued jobs run.
    const again = await startApi();
    for (const id of before) expect((await rest(again.url, 'GET', `/api/posts/${id}`, { token })).status).toBe(200);
    // What was written after the copy was taken is not (it is in pre-restore-…).
    const last = during.at(-1);
    expect(last && last.at > finished).toBe(true);
    expect((await rest(again.url, 'GET', `/api/posts/${last?.id}`, { token })).status).toBe(404);
    const sums = [3, 12, 10];
    for (const [index, id] of tasks.entries()) {
      await expect
        .poll(async () => (await rest<{ status: string; result: unknown }>(again.url, 'GET', `/api/tasks/${id}`, { token })).body, { interval: 100 })
        .toMatchObject({ status: 'completed', result: { sum: sums[index] } });
    }
    await stop(again.api);
  });
});

describe('npm run backup and npm run restore on postgres', () => {
  it('point to pg_dump and the platform’s snapshots, and exit 2', async () => {
    const env = { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres' };
    const backup = await run('backup', ['--out', join(dir, 'pg')], env);
    expect(backup.code).toBe(2);
    expect(backup.stderr).toMatch(/^backup: the app’s data is on Postgres .*pg_dump/);
    const restore = await run('restore', ['--from', join(dir, 'pg')], env);
    expect(restore.code).toBe(2);
    expect(restore.stderr).toMatch(/^restore: the app’s data is on Postgres .*pg_restore/);
  });
});
