// The one place where errors become what clients see: AppError → tRPC code, zod issues → per-field messages.
import { TRPCError, type TRPC_ERROR_CODE_NUMBER } from '@trpc/server';
import { findUniqueViolation, isDatabaseUnavailable } from '../../db/index.ts';
import { AppError, UNAVAILABLE_RETRY_AFTER_SECONDS, type FieldErrors } from '../errors.ts';

type Issue = { path?: readonly PropertyKey[] | readonly { key: PropertyKey }[]; message: string };

export function issuesOf(cause: unknown): Issue[] | null {
  const issues = (cause as { issues?: unknown } | null)?.issues;
  return Array.isArray(issues) ? (issues as Issue[]) : null;
}

const pathKey = (path: Issue['path']): string =>
  (path ?? []).map((segment) => String(typeof segment === 'object' && segment !== null ? segment.key : segment)).join('.');

/** zod (or any standard-schema) issues as `{ 'field.path': [messages] }`; issues about the whole input use "". */
export function fieldErrorsOf(issues: Issue[]): FieldErrors {
  const out: FieldErrors = {};
  for (const issue of issues) (out[pathKey(issue.path)] ??= []).push(issue.message);
  return out;
}

/**
 * Converts what a procedure threw into the TRPCError the client gets: domain errors keep their code, unique
 * violations become CONFLICT, an unreachable database SERVICE_UNAVAILABLE; leaves other errors alone.
 */
export function toClientError(error: TRPCError): TRPCError {
  const cause = error.cause;
  if (cause instanceof AppError) return new TRPCError({ code: cause.code, message: cause.message, cause });
  const unique = error.code === 'INTERNAL_SERVER_ERROR' ? findUniqueViolation(cause) : null;
  if (unique) {
    const field = unique.field ?? 'value';
    const appError = new AppError('CONFLICT', `${field} already exists`, { fieldErrors: { [field]: [`${field} already exists`] }, cause });
    return new TRPCError({ code: 'CONFLICT', message: appError.message, cause: appError });
  }
  // The database is down or restarting: the client may retry (503 with Retry-After), and learns nothing more.
  if (error.code === 'INTERNAL_SERVER_ERROR' && isDatabaseUnavailable(cause)) {
    const appError = new AppError('SERVICE_UNAVAILABLE', 'the service cannot reach its database; retry shortly', { retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS, cause });
    return new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: appError.message, cause: appError });
  }
  return error;
}

export type ErrorData = {
  code: TRPCError['code'];
  httpStatus: number;
  path?: string;
  /** Quote it when reporting a problem: the server's logs carry the same id. */
  requestId?: string;
  /** Per-field messages for bad input (`BAD_REQUEST`) and conflicts (`CONFLICT`). */
  fieldErrors?: FieldErrors;
  retryAfterSeconds?: number;
};

export type ErrorShape = { code: TRPC_ERROR_CODE_NUMBER; message: string; data: ErrorData };

/**
 * Shapes every error response. Only input validation contributes zod details (output validation failing is
 * our fault: a 500). Internal errors carry a generic message: no stack, SQL or driver text leaves the server.
 */
export function formatError(opts: {
  shape: { code: TRPC_ERROR_CODE_NUMBER; message: string; data: { code: TRPCError['code']; httpStatus: number; path?: string } };
  error: TRPCError;
  requestId: string | undefined;
}): ErrorShape {
  const { shape, error, requestId } = opts;
  const data: ErrorData = { code: shape.data.code, httpStatus: shape.data.httpStatus };
  if (shape.data.path !== undefined) data.path = shape.data.path;
  if (requestId !== undefined) data.requestId = requestId;
  let message = shape.message;

  const issues = error.code === 'BAD_REQUEST' ? issuesOf(error.cause) : null;
  if (issues) {
    data.fieldErrors = fieldErrorsOf(issues);
    const first = issues[0];
    const where = first ? pathKey(first.path) : '';
    // zod's own messages start with "Invalid input" too: said once is enough.
    message = first ? `Invalid input: ${where ? `${where}: ` : ''}${first.message.replace(/^Invalid input: /, '')}` : 'Invalid input';
  } else if (error.cause instanceof AppError) {
    if (error.cause.fieldErrors) data.fieldErrors = error.cause.fieldErrors;
    if (error.cause.retryAfterSeconds !== undefined) data.retryAfterSeconds = error.cause.retryAfterSeconds;
  } else if (error.code === 'INTERNAL_SERVER_ERROR') {
    message = 'Internal server error';
  }
  return { code: shape.code, message, data };
}
