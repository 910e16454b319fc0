// Reads the environment once, validates it with zod, and names every bad variable.
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { POSTGRES_DEFAULTS } from '../db/index.ts';

const bool = z.stringbool({ truthy: ['true', '1', 'yes', 'on'], falsy: ['false', '0', 'no', 'off'] });
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const list = z.string().transform((value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0),
);

const BYTE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };
/** "1mb", "512kb", "2048" → bytes; what express's body parsers accept, as a number we can compare. */
const byteSize = z.string().transform((value, ctx) => {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(value);
  if (!match) {
    ctx.addIssue({ code: 'custom', message: 'must be a size such as 1mb, 512kb or 1048576' });
    return z.NEVER;
  }
  return Math.floor(Number(match[1]) * BYTE_UNITS[(match[2] ?? 'b').toLowerCase()]);
});

const databaseUrl = z.string().refine((url) => url === ':memory:' || /^(file:|postgres(ql)?:\/\/)/.test(url), {
  message: 'must be file:<path>, :memory: or a postgres:// / postgresql:// URL',
});

/** Express "trust proxy" values: true/false, a hop count, or names/addresses/CIDRs. */
const trustProxy = z.string().transform((value, ctx): boolean | number | string[] => {
  const text = value.trim().toLowerCase();
  if (text === 'true') return true;
  if (text === 'false' || text === '') return false;
  if (/^\d+$/.test(text)) return Number(text);
  const items = text.split(',').map((item) => item.trim());
  const named = new Set(['loopback', 'linklocal', 'uniquelocal']);
  for (const item of items) {
    const [address, bits, ...rest] = item.split('/');
    const family = isIP(address);
    const bitsOk =
      bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32) && rest.length === 0);
    if (!named.has(item) && !(family !== 0 && bitsOk)) {
      ctx.addIssue({ code: 'custom', message: `"${item}" is not true, false, a hop count, loopback/linklocal/uniquelocal, an IP or a CIDR` });
      return z.NEVER;
    }
  }
  return items;
});

/** "tasks.run=8,email.welcome=2": per-queue worker concurrency overrides. */
/** `queue=n,queue=n` with each n from min to max. */
const perQueue = (min: number, max: number) =>
  z.string().transform((value, ctx) => {
    const out: Record<string, number> = {};
    for (const item of value.split(',').map((part) => part.trim()).filter(Boolean)) {
      const match = /^([a-z0-9._-]+)=(\d+)$/.exec(item);
      if (!match || Number(match[2]) < min || Number(match[2]) > max) {
        ctx.addIssue({ code: 'custom', message: `"${item}" is not queue=n with n from ${min} to ${max}` });
        return z.NEVER;
      }
      out[match[1]] = Number(match[2]);
    }
    return out;
  });
const queueConcurrency = perQueue(1, 100);

const origin = z.string().refine(
  (value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
    } catch {
      return false;
    }
  },
  { message: 'must be an origin such as https://app.example.com (scheme, host and optional port; no path)' },
);

const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: int(0, 65535).default(3000),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    DATABASE_URL: databaseUrl.default('file:./data/app.db'),
    DATABASE_POOL_MAX: int(1, 1000).default(POSTGRES_DEFAULTS.poolMax),
    DATABASE_IDLE_TIMEOUT_MS: int(0, 3_600_000).default(POSTGRES_DEFAULTS.idleTimeoutMs),
    DATABASE_CONNECTION_TIMEOUT_MS: int(100, 600_000).default(POSTGRES_DEFAULTS.connectionTimeoutMs),
    DATABASE_STATEMENT_TIMEOUT_MS: int(0, 3_600_000).default(POSTGRES_DEFAULTS.statementTimeoutMs),
    DATABASE_STARTUP_TIMEOUT_MS: int(0, 600_000).default(POSTGRES_DEFAULTS.startupTimeoutMs),
    MIGRATE_ON_START: bool.default(true),
    CORS_ORIGINS: list.pipe(z.array(origin)).default([]),
    TRUSTED_HOSTS: list
      .pipe(z.array(z.string().regex(/^[a-z0-9.-]+(:\d+)?$|^\[[0-9a-f:.]+\](:\d+)?$/i, 'must be a host name, optionally with :port')))
      .default([]),
    TRUST_PROXY: trustProxy.default(false),
    BODY_LIMIT: byteSize.default(1024 * 1024),
    TRPC_MAX_BATCH_SIZE: int(1, 1000).default(50),
    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
      .optional(),
    REDIS_KEY_PREFIX: z.string().max(100).default('abs:'),
    CACHE_TTL_SECONDS: int(0, 86_400).default(300),
    CACHE_MAX_ENTRIES: int(1, 10_000_000).default(10_000),
    SESSION_ABSOLUTE_LIFETIME_DAYS: int(1, 3650).default(90),
    QUEUE_DATABASE_URL: z
      .string()
      .refine((url) => url === 'memory:' || /^(file:|postgres(ql)?:\/\/)/.test(url), {
        message: 'must be a postgres:// URL, file:<directory> (PGlite) or memory: (PGlite in memory)',
      })
      .optional(),
    WORKER_IN_PROCESS: bool.optional(),
    WORKER_CONCURRENCY: int(1, 100).default(4),
    WORKER_QUEUE_CONCURRENCY: queueConcurrency.default({}),
    WORKER_SHUTDOWN_TIMEOUT_MS: int(1_000, 600_000).default(8_000),
    QUEUE_POLLING_INTERVAL_SECONDS: z.coerce.number().min(0.5).max(60).default(1),
    QUEUE_MAINTENANCE_INTERVAL_SECONDS: int(1, 3600).default(60),
    /** Per-queue overrides of a job's expiry and heartbeat (`email.welcome=60`); pg-boss's heartbeat minimum is 10. */
    QUEUE_EXPIRE_SECONDS: perQueue(1, 86_400).default({}),
    QUEUE_HEARTBEAT_SECONDS: perQueue(10, 3600).default({}),
    /** How long a task may sit queued or running with no live job before the sweep repairs it. */
    TASK_SWEEP_GRACE_SECONDS: int(1, 86_400).default(300),
    SMTP_URL: z
      .string()
      .regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL')
      .optional(),
    MAIL_FROM: z.string().min(3).default('ai-backend-service <no-reply@localhost>'),
    OUTBOX_DIR: z.string().min(1).default('./data/outbox'),
    PASSWORD_RESET_URL: z.url({ protocol: /^https?$/ }).default('http://127.0.0.1:3000/reset-password'),
    TASK_RETENTION_DAYS: int(1, 3650).default(30),
    /** Port of a worker process's own small HTTP server (health probes and /metrics); 0 turns it off. */
    WORKER_PORT: int(0, 65535).default(3001),
    /** Serves /metrics to requests bearing it; /metrics is off without it. */
    METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Refuse to start on anything but Postgres (production deployments set it, so a missing DATABASE_URL cannot fall back to SQLite). */
    REQUIRE_POSTGRES: bool.default(false),
    OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL, such as http://otel-collector:4318' }).optional(),
    OTEL_SERVICE_NAME: z.string().min(1).max(100).optional(),
    RATE_LIMIT_GLOBAL_PER_MINUTE: int(1, 1_000_000).default(600),
    RATE_LIMIT_LOGIN_PER_MINUTE: int(1, 1_000_000).default(20),
    RATE_LIMIT_LOGIN_FAILURES_PER_MINUTE: int(1, 1_000_000).default(5),
    RATE_LIMIT_REGISTER_PER_MINUTE: int(1, 1_000_000).default(5),
    RATE_LIMIT_PASSWORD_RESET_PER_MINUTE: int(1, 1_000_000).default(5),
    RATE_LIMIT_PASSWORD_RESET_PER_EMAIL_PER_HOUR: int(1, 1_000_000).default(3),
    /** Password verifications (changePassword, deleteMe, e-mail changes) per account, and per client IP, per minute. */
    RATE_LIMIT_PASSWORD_CHECKS_PER_MINUTE: int(1, 1_000_000).default(10),
    /** Per-IP budgets group IPv6 clients by this prefix length: one /64 is one subscriber's network. */
    RATE_LIMIT_IPV6_PREFIX: int(1, 128).default(64),
    SHUTDOWN_TIMEOUT_MS: int(0, 600_000).default(8_000),
    /** Above this event-loop lag (sustained 500 ms) API requests get a quick 503 instead of a queue; 0 turns shedding off. Default: see overload.ts. */
    OVERLOAD_EVENT_LOOP_DELAY_MS: int(0, 60_000).optional(),
    /**
     * Live updates (tasks.onChange, admin.onStats). false: task writes announce nothing (no NOTIFY) and the
     * streams are refused; set it on every process (workers write most task changes).
     */
    LIVE_UPDATES: bool.default(true),
    /** Open subscriptions one API process holds at most… */
    LIVE_MAX_SUBSCRIPTIONS: int(1, 1_000_000).default(10_000),
    /** …and one user holds at most, per process. */
    LIVE_MAX_SUBSCRIPTIONS_PER_USER: int(1, 100_000).default(20),
    /** How often the sessions and tokens behind open subscriptions are checked: one that ended is disconnected. */
    LIVE_SESSION_CHECK_SECONDS: int(1, 300).default(5),
    /** admin.onStats also recounts this often (users, sessions and posts announce no changes); task changes recount at once. */
    LIVE_STATS_REFRESH_SECONDS: int(1, 3_600).default(10),
  })
  .superRefine((config, ctx) => {
    if (config.REQUIRE_POSTGRES && !config.DATABASE_URL.startsWith('postgres')) {
      ctx.addIssue({ code: 'custom', path: ['DATABASE_URL'], message: 'must be a postgres:// URL because REQUIRE_POSTGRES is true (it is unset or points at SQLite)' });
    }
  });

export type Config = z.infer<typeof envSchema>;
/** Every variable this module reads (the deploy guides' test checks that they set nothing else). */
export const configVariables: readonly string[] = Object.keys(envSchema.shape);
/** Values of these variables may carry credentials, so errors never echo them. */
const SECRET_NAME = /URL|PASSWORD|SECRET|TOKEN|KEY|ENDPOINT/;
export type Dialect = 'sqlite' | 'postgres';

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Validates an environment (process.env by default); throws ConfigError naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const present = Object.fromEntries(
    Object.keys(envSchema.shape)
      .filter((key) => env[key] !== undefined && env[key] !== '')
      .map((key) => [key, env[key]]),
  );
  const result = envSchema.safeParse(present);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? '(environment)');
        const shown = SECRET_NAME.test(name) ? '' : ` (got "${env[name]}")`;
        return `${name}: ${issue.message}${shown}`;
      }),
    );
  }
  return result.data;
}

export function dialectOf(databaseUrl: string): Dialect {
  return databaseUrl.startsWith('postgres') ? 'postgres' : 'sqlite';
}

/** Values from a .env file for the variables the environment does not already set. */
export function readDotEnv(path = '.env', env: Record<string, string | undefined> = process.env): Record<string, string | undefined> {
  if (!existsSync(path)) return env;
  return { ...parseEnv(readFileSync(path, 'utf8')), ...env };
}
