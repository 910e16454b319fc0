// No Docker engine runs here, so the image is checked by what can be: the Dockerfile's and compose.yaml's
// commands are read from the files and run on the host, as the container would run them (migrate → API and
// worker → HEALTHCHECK → SIGTERM → exit 0), on both databases.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { openTestDatabase } from '../server/testing/database.ts';
import { freePort } from '../server/testing/ports.ts';
import { startNode } from '../server/testing/processes.ts';

type Instruction = { keyword: string; args: string };

/** Dockerfile instructions, continuation lines joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const joined = text.replace(/\\\r?\n/g, ' ');
  return joined
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

const dockerfile = instructions(readFileSync('Dockerfile', 'utf8'));
const runtimeStage = dockerfile.slice(dockerfile.findLastIndex((instruction) => instruction.keyword === 'FROM'));
const execForm = (args: string): string[] => JSON.parse(args) as string[];
const last = (keyword: string) => runtimeStage.findLast((instruction) => instruction.keyword === keyword)?.args ?? '';

/** ENV of the final stage, `KEY=value` pairs. */
const imageEnv: Record<string, string> = Object.fromEntries(
  runtimeStage
    .filter((instruction) => instruction.keyword === 'ENV')
    .flatMap((instruction) => [...instruction.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)].map((match) => [match[1], match[2].replace(/^"|"$/g, '')])),
);
const apiCommand = execForm(last('CMD'));
const healthCommand = execForm(last('HEALTHCHECK').replace(/^.*?CMD\s+/, ''));

type ComposeService = { command?: string[]; environment?: Record<string, string>; depends_on?: Record<string, { condition: string }>; init?: boolean; stop_grace_period?: string; profiles?: string[]; healthcheck?: { test: string[] } };
const compose = parse(readFileSync('compose.yaml', 'utf8')) as { services: Record<string, ComposeService> };

/** Runs an image command on the host: `node` is this Node, paths are relative to the repository (the image's /app). */
const onHost = (command: string[]) => {
  expect(command[0]).toBe('node');
  return { script: command.at(-1) ?? '', nodeArgs: command.slice(1, -1) };
};

describe('the image, as written', () => {
  it('builds on Debian slim with npm ci inside, production dependencies only, non-root, tini as PID 1', () => {
    const froms = dockerfile.filter((instruction) => instruction.keyword === 'FROM').map((instruction) => instruction.args);
    expect(froms[0]).toMatch(/^node:24-bookworm-slim\b/);
    expect(dockerfile.some((instruction) => instruction.keyword === 'RUN' && /\bnpm ci --omit=dev\b/.test(instruction.args))).toBe(true);
    // node_modules comes from a stage that ran npm ci, never from the build context.
    for (const copy of dockerfile.filter((instruction) => instruction.keyword === 'COPY' && /node_modules/.test(instruction.args))) {
      expect(copy.args).toMatch(/^--from=/);
    }
    expect(readFileSync('.dockerignore', 'utf8').split('\n')).toEqual(expect.arrayContaining(['node_modules', 'data', '.git', '**/*.test.ts']));
    expect(last('USER')).toBe('node');
    expect(execForm(last('ENTRYPOINT'))).toEqual(['tini', '--']);
    // node directly (npm would swallow SIGTERM), with tracing loaded before the app.
    expect(apiCommand).toEqual(['node', '--expose-gc', '--v8-pool-size=1', '--import', './server/preload.mjs', 'server/main.ts']);
    expect(healthCommand).toEqual(['node', 'scripts/healthcheck.ts']);
  });

  it('builds the admin console in the build stage and ships the bundle, not esbuild, in the runtime image', () => {
    const buildStage = dockerfile.slice(dockerfile.findIndex((instruction) => instruction.keyword === 'FROM' && / AS build$/i.test(instruction.args)), dockerfile.findLastIndex((instruction) => instruction.keyword === 'FROM'));
    expect(buildStage.some((instruction) => instruction.keyword === 'RUN' && instruction.args === 'node server/console/build.ts')).toBe(true);
    expect(runtimeStage.some((instruction) => instruction.keyword === 'COPY' && instruction.args === '--from=build /app/build/console ./build/console')).toBe(true);
    // The runtime's node_modules come from `npm ci --omit=dev`: esbuild is a dev dependency.
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    expect(pkg.dependencies.esbuild).toBeUndefined();
    expect(pkg.devDependencies.esbuild).toBeDefined();
  });

  it('composes postgres, mailpit, a one-off migrate, api and worker (and redis under a profile)', () => {
    const { services } = compose;
    expect(services.postgres.healthcheck?.test.join(' ')).toContain('pg_isready');
    for (const name of ['api', 'worker']) {
      expect(services[name].depends_on).toMatchObject({ postgres: { condition: 'service_healthy' }, migrate: { condition: 'service_completed_successfully' } });
      expect(services[name].init).toBe(true);
    }
    expect(services.api.stop_grace_period).toBe('10s');
    expect(parseInt(services.worker.stop_grace_period ?? '', 10)).toBeGreaterThan(10);
    expect(services.redis.profiles).toEqual(['redis']);
  });
});

type Target = { name: string; skip: boolean; open: () => Promise<{ env: Record<string, string> & { DATABASE_URL: string }; close: () => Promise<void> }> };
const dir = mkdtempSync(join(tmpdir(), 'container-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const targets: Target[] = [
  {
    name: 'the embedded default (no DATABASE_URL in the image: SQLite under ./data)',
    skip: false,
    open: async () => ({ env: { DATABASE_URL: `file:${join(dir, 'data', 'app.db')}` }, close: async () => {} }),
  },
  {
    // A child process cannot open the test's PGlite: this needs a Postgres server (CI always has one).
    name: 'postgres, as compose.yaml runs it (TEST_DATABASE_URL)',
    skip: !process.env.TEST_DATABASE_URL,
    open: async () => {
      const db = await openTestDatabase('postgres', { migrated: false });
      const url = db.source.kind === 'postgres' ? db.source.url : '';
      const { DATABASE_URL: _composeUrl, SMTP_URL: _mailpit, REDIS_URL: _redis, ...composeEnv } = compose.services.api.environment ?? {};
      return { env: { ...composeEnv, DATABASE_URL: url }, close: () => db.close() };
    },
  },
];

describe.each(targets)('the image commands on the host: $name', (target) => {
  it.skipIf(target.skip)('migrate, then the API and the worker start, pass the HEALTHCHECK, and exit 0 on SIGTERM', async () => {
    const database = await target.open();
    try {
      const env: Record<string, string> & { DATABASE_URL: string } = { ...imageEnv, HOST: '127.0.0.1', OUTBOX_DIR: join(dir, 'outbox'), LOG_LEVEL: 'info', ...database.env };
      const postgres = env.DATABASE_URL.startsWith('postgres');

      const migrate = onHost(compose.services.migrate.command ?? []);
      const migrated = spawnSync(process.execPath, [...migrate.nodeArgs, migrate.script], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 60_000 });
      expect(migrated.status, migrated.stderr).toBe(0);
      expect(migrated.stdout).toMatch(/applied \d+ migration\(s\); the database is current/);

      const api = onHost(apiCommand);
      const port = await freePort();
      const apiProcess = startNode(api.script, { ...env, PORT: String(port) }, api.nodeArgs);
      await apiProcess.waitFor('listening');
      // Embedded, the API listens before its queue (PGlite) is up; a first run creates the queue's database,
      // which can outlast the shutdown deadline on a busy machine: stop it once it has started in full.
      if (!postgres) await apiProcess.waitFor('job queue started');
      const health = onHost(healthCommand);
      const probe = (extra: Record<string, string>) => spawnSync(process.execPath, [...health.nodeArgs, health.script], { env: { PATH: process.env.PATH, ...extra }, encoding: 'utf8', timeout: 20_000 });
      expect(probe({ PORT: String(port) }).status).toBe(0);

      if (postgres) {
        const worker = onHost(compose.services.worker.command ?? []);
        const workerPort = await freePort();
        const { WORKER_SHUTDOWN_TIMEOUT_MS: _long, ...workerEnv } = compose.services.worker.environment ?? {};
        const workerProcess = startNode(worker.script, { ...env, ...workerEnv, DATABASE_URL: env.DATABASE_URL, WORKER_PORT: String(workerPort) }, worker.nodeArgs);
        await workerProcess.waitFor('working');
        expect(probe({ HEALTHCHECK_PORT: String(workerPort), PORT: String(port + 1) }).status).toBe(0);
        workerProcess.child.kill('SIGTERM');
        expect(await workerProcess.exited, workerProcess.lastWords()).toBe(0);
      }

      apiProcess.child.kill('SIGTERM');
      expect(await apiProcess.exited, apiProcess.lastWords()).toBe(0);
      // Nothing listens any more: the probe fails, with the reason on stderr.
      const failed = probe({ PORT: String(port) });
      expect(failed.status).toBe(1);
      expect(failed.stderr).toMatch(/^healthcheck: http:\/\/127\.0\.0\.1:\d+\/health\/live: /);
    } finally {
      await database.close();
    }
  });
});
