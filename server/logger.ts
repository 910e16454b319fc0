// Structured pino logging: secrets redacted, SQL parameters never logged, pretty only for a developer's terminal.
import { createRequire } from 'node:module';
import { pino, stdSerializers, type Logger, type DestinationStream } from 'pino';
import { traceFields } from './telemetry/state.ts';

export type { Logger };

/** Keys whose values never reach a log line, at any depth: credentials, tokens, cookies. */
const SECRET_KEY = /^(authorization|cookie|set-cookie|proxy-authorization)$|password|token|secret|api[-_]?key/i;
const REDACTED = '[redacted]';
const NO_FIELDS: object = Object.freeze({});

/**
 * Copies what a log call was given, replacing secret-named fields. Cheaper than pino's path-based redaction
 * (no wildcard path matching on every line) and it covers any depth, not a fixed list of paths.
 */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (depth > 6 || typeof value !== 'object' || value === null || value instanceof Error || value instanceof Date) return value;
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, depth + 1));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  let copy: Record<string, unknown> | undefined;
  // for…in over a plain object (its prototype checked above) walks its own keys without an array of entries.
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key];
    const next = SECRET_KEY.test(key) ? REDACTED : redactSecrets(item, depth + 1);
    if (next !== item) (copy ??= { ...(value as Record<string, unknown>) })[key] = next;
  }
  return copy ?? value;
}

type ErrorLike = Error & { query?: unknown; params?: unknown; code?: unknown; cause?: unknown };

/**
 * Serializes errors with their stack and cause chain, but drops the bound parameters of failed queries:
 * drizzle's DrizzleQueryError puts them in its message, and they can be password hashes or tokens.
 */
export function serializeError(error: unknown, depth = 0): unknown {
  if (!(error instanceof Error)) return error;
  const err = error as ErrorLike;
  const isQueryError = typeof err.query === 'string' && 'params' in err;
  const base = stdSerializers.err(err) as Record<string, unknown>;
  const out: Record<string, unknown> = { type: base.type, message: base.message, stack: base.stack };
  if (err.code !== undefined) out.code = err.code;
  if (isQueryError) {
    out.message = 'Failed query';
    out.query = err.query;
    out.stack = typeof base.stack === 'string' ? base.stack.replace(/^[\s\S]*?\n(\s+at )/, 'Failed query\n$1') : undefined;
  }
  if (err.cause !== undefined && depth < 5) out.cause = serializeError(err.cause, depth + 1);
  return out;
}

/**
 * An error's message as logs show it: a failed query's message without its bound parameters (drizzle puts them in
 * the message, after the query). For messages that are stored or shown, such as a failed job's last error.
 */
export function messageWithoutParams(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.startsWith('Failed query: ') ? message.replace(/\nparams: [\s\S]*$/, '') : message;
}

export type LoggerOptions = { level: string; pretty?: boolean; destination?: DestinationStream };

export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level,
    formatters: { log: (object: Record<string, unknown>) => redactSecrets(object) as Record<string, unknown> },
    // With tracing on, every line names the trace and span it was written in. Without, pino's default merge would
    // still copy each line's fields into a new object: an empty mixin leaves the line as it is.
    mixin: () => traceFields() ?? NO_FIELDS,
    mixinMergeStrategy: (line: object, fields: object) => (fields === NO_FIELDS ? line : Object.assign(fields, line)),
    serializers: { err: serializeError, error: serializeError },
    base: { pid: process.pid },
  };
  if (options.pretty && !options.destination && prettyAvailable()) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return options.destination ? pino(base, options.destination) : pino(base);
}

/** pino-pretty is a development dependency; production images run without it. */
function prettyAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}
