// The one error type services throw; server/trpc maps its codes to tRPC codes in one place.

export const APP_ERROR_CODES = [
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'TOO_MANY_REQUESTS',
  'SERVICE_UNAVAILABLE',
] as const;
export type AppErrorCode = (typeof APP_ERROR_CODES)[number];

/** Messages per input field, keyed by the field's path (`email`, `input.text`). */
export type FieldErrors = Record<string, string[]>;

export type AppErrorOptions = {
  /** Per-field messages the client can show next to its inputs. */
  fieldErrors?: FieldErrors;
  /** Seconds until a rate-limited request may be retried. */
  retryAfterSeconds?: number;
  /** The rate limit that was exceeded (requests per window), for RateLimit-* headers. */
  limit?: number;
  cause?: unknown;
};

export class AppError extends Error {
  readonly code: AppErrorCode;
  readonly fieldErrors: FieldErrors | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly limit: number | undefined;

  constructor(code: AppErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.fieldErrors = options.fieldErrors;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.limit = options.limit;
  }
}

/** Seconds a client should wait before retrying while the database is unreachable. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 1;

export const notFound = (what: string) => new AppError('NOT_FOUND', `${what} not found`);
export const forbidden = (message = 'not allowed') => new AppError('FORBIDDEN', message);
export const conflict = (field: string, message = `${field} is already taken`) =>
  new AppError('CONFLICT', message, { fieldErrors: { [field]: [message] } });

/**
 * A task failure its owner may read (a runner's own words: "analysis took longer than 30 s"). Any other error
 * a task meets is logged with the task's id, and its owner reads a generic message: a driver's message can
 * carry SQL and parameters.
 */
export class TaskError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TaskError';
  }
}
