// What is known of a Postgres connection before the driver loads: its options and defaults, the session
// settings every connection sends, and the error a start-up that cannot reach the server ends with. Light on purpose: config and every process import it.

export type PostgresOptions = {
  url: string;
  poolMax: number;
  idleTimeoutMs: number;
  connectionTimeoutMs: number;
  statementTimeoutMs: number;
  /** How long start-up keeps retrying an unreachable server before giving up. */
  startupTimeoutMs: number;
  onPoolError: (error: Error) => void;
};

/** Defaults for the pool settings; server/config.ts uses them for the DATABASE_* variables. */
export const POSTGRES_DEFAULTS = {
  poolMax: 10,
  idleTimeoutMs: 10_000,
  connectionTimeoutMs: 5_000,
  statementTimeoutMs: 30_000,
  startupTimeoutMs: 30_000,
} as const satisfies Omit<PostgresOptions, 'url' | 'onPoolError'>;

export class DatabaseUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabaseUnavailableError';
  }
}

/** host:port/database of a URL, without credentials, for messages. */
export function describePostgresUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

/**
 * Session settings the application relies on, whatever the server, database or role defaults say: pg parses
 * timestamps as ISO text in UTC (with `DateStyle` 'SQL, DMY' every authenticated request failed), and text
 * travels as UTF-8. Sent in the startup packet of every connection, so no connection can miss them.
 */
const SESSION_SETTINGS = { DateStyle: 'ISO,MDY', TimeZone: 'UTC', client_encoding: 'UTF8', IntervalStyle: 'postgres' } as const;

/**
 * The `options` connection parameter for `url`: what the URL's own `options` say, then the session settings
 * above (the later -c wins). For every pg Pool or Client of ours, pg-boss's included.
 */
export function sessionOptions(url: string): string {
  let own = '';
  try {
    own = new URL(url).searchParams.get('options') ?? '';
  } catch {
    // Not a URL: pg reports that when it connects.
  }
  const ours = Object.entries(SESSION_SETTINGS).map(([name, value]) => `-c ${name}=${value}`);
  return [own, ...ours].filter(Boolean).join(' ');
}
