// Configuration: defaults, every variable's validation, and a bad environment stopping the process cleanly.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError, dialectOf, loadConfig, readDotEnv } from './config.ts';
import { PRELOAD } from './testing/processes.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
};

describe('config', () => {
  it('has defaults that serve the embedded SQLite database on 127.0.0.1:3000', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      PORT: 3000,
      LOG_LEVEL: 'info',
      DATABASE_URL: 'file:./data/app.db',
      MIGRATE_ON_START: true,
      CORS_ORIGINS: [],
      TRUSTED_HOSTS: [],
      TRUST_PROXY: false,
      BODY_LIMIT: 1024 * 1024,
      TRPC_MAX_BATCH_SIZE: 50,
      SHUTDOWN_TIMEOUT_MS: 8000,
    });
    expect(dialectOf(config.DATABASE_URL)).toBe('sqlite');
  });

  it('parses lists, sizes, booleans and proxy settings', () => {
    const config = loadConfig({
      CORS_ORIGINS: 'https://app.example.com, http://localhost:5173',
      TRUSTED_HOSTS: 'api.example.com,localhost:3000',
      BODY_LIMIT: '512kb',
      MIGRATE_ON_START: 'false',
      TRUST_PROXY: 'loopback, 10.0.0.0/8',
      DATABASE_URL: 'postgresql://app@db/app',
    });
    expect(config.CORS_ORIGINS).toEqual(['https://app.example.com', 'http://localhost:5173']);
    expect(config.TRUSTED_HOSTS).toEqual(['api.example.com', 'localhost:3000']);
    expect(config.BODY_LIMIT).toBe(512 * 1024);
    expect(config.MIGRATE_ON_START).toBe(false);
    expect(config.TRUST_PROXY).toEqual(['loopback', '10.0.0.0/8']);
    expect(dialectOf(config.DATABASE_URL)).toBe('postgres');
    expect(loadConfig({ TRUST_PROXY: 'true' }).TRUST_PROXY).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '2' }).TRUST_PROXY).toBe(2);
    expect(loadConfig({ DATABASE_URL: ':memory:' }).DATABASE_URL).toBe(':memory:');
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['NODE_ENV', 'staging'],
    ['LOG_LEVEL', 'verbose'],
    ['DATABASE_URL', 'mysql://db/app'],
    ['MIGRATE_ON_START', 'maybe'],
    ['CORS_ORIGINS', 'https://app.example.com/path'],
    ['TRUSTED_HOSTS', 'bad host'],
    ['TRUST_PROXY', 'everyone'],
    ['TRUST_PROXY', '10.0.0.0/99'],
    ['BODY_LIMIT', 'lots'],
    ['DATABASE_POOL_MAX', '0'],
    ['SHUTDOWN_TIMEOUT_MS', '-1'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'otel-collector:4318'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'grpc://otel-collector:4317'],
    ['METRICS_TOKEN', 'short'],
    ['WORKER_PORT', '99999'],
    ['REQUIRE_POSTGRES', 'sure'],
  ])('rejects %s=%s, naming the variable', (name, value) => {
    const problems = problemsOf({ [name]: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${name}: `));
  });

  it('with REQUIRE_POSTGRES, refuses to fall back to SQLite', () => {
    const unset: Record<string, string> = { REQUIRE_POSTGRES: 'true' };
    for (const env of [unset, { REQUIRE_POSTGRES: 'true', DATABASE_URL: 'file:./data/app.db' }]) {
      expect(problemsOf(env)).toEqual(['DATABASE_URL: must be a postgres:// URL because REQUIRE_POSTGRES is true (it is unset or points at SQLite)']);
    }
    expect(loadConfig({ REQUIRE_POSTGRES: 'true', DATABASE_URL: 'postgres://db/app' }).REQUIRE_POSTGRES).toBe(true);
  });

  it('names every bad variable at once and never echoes a database URL', () => {
    const problems = problemsOf({ PORT: 'x', DATABASE_URL: 'mysql://root:hunter2@db/app', LOG_LEVEL: 'loud' });
    expect(problems.map((problem) => problem.split(':')[0]).sort()).toEqual(['DATABASE_URL', 'LOG_LEVEL', 'PORT']);
    expect(problems.join('\n')).not.toContain('hunter2');
  });

  it('reads a .env file without overriding the environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'env-'));
    const file = join(dir, '.env');
    writeFileSync(file, 'PORT=4000\nHOST=0.0.0.0\n');
    expect(readDotEnv(file, { HOST: '127.0.0.2' })).toMatchObject({ PORT: '4000', HOST: '127.0.0.2' });
    expect(readDotEnv(join(dir, 'missing.env'), { HOST: 'h' })).toEqual({ HOST: 'h' });
  });

  it.each([
    ['server/main.ts', { REQUIRE_POSTGRES: 'true', NODE_ENV: 'production' }, 'DATABASE_URL:'],
    ['jobs/worker.ts', { REQUIRE_POSTGRES: 'true' }, 'DATABASE_URL:'],
    ['server/main.ts', { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT:'],
  ])('%s with %o exits 1 at start, naming %s, with tracing loaded as in production', (script, env, named) => {
    const result = spawnSync(process.execPath, [...PRELOAD, script], {
      env: { PATH: process.env.PATH, ...env },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(named);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('stops the server at start with exit code 1, the variable named and no stack trace', () => {
    const result = spawnSync(process.execPath, [...PRELOAD, 'server/main.ts'], {
      env: { PATH: process.env.PATH, PORT: 'not-a-port', TRUST_PROXY: 'everyone' },
      encoding: 'utf8',
      // A bound for a busy machine, not a promise: the process exits as soon as it has read the config.
      timeout: 60_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('PORT:');
    expect(result.stderr).toContain('TRUST_PROXY:');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
