// JSON error bodies for what express rejects before tRPC runs: /trpc gets tRPC's envelope, the rest a plain one.
import type { NextFunction, Request, Response } from 'express';
import { getStatusCodeFromKey, TRPC_ERROR_CODES_BY_KEY } from '@trpc/server/unstable-core-do-not-import';
import superjson from 'superjson';
import type { TRPCError } from '@trpc/server';
import { requestStateOf } from './request-state.ts';

type Code = TRPCError['code'];

/** Sends an error a tRPC client can decode (superjson-wrapped `{ error: shape }`), or plain JSON elsewhere. */
export function sendError(req: Request, res: Response, code: Code, message: string): void {
  if (res.headersSent) return;
  const httpStatus = getStatusCodeFromKey(code);
  const requestId = requestStateOf(res)?.requestId;
  res.status(httpStatus);
  if (req.originalUrl.startsWith('/trpc')) {
    const shape = { code: TRPC_ERROR_CODES_BY_KEY[code], message, data: { code, httpStatus, requestId } };
    res.json({ error: superjson.serialize(shape) });
  } else {
    res.json({ error: { code, message, requestId } });
  }
}

type HttpError = Error & { status?: number; statusCode?: number; type?: string; expose?: boolean };

/** The last express error handler: body-parser failures become 4xx; anything else is logged and a generic 500. */
export function errorHandler() {
  return (error: HttpError, req: Request, res: Response, _next: NextFunction): void => {
    const status = error.status ?? error.statusCode ?? 500;
    if (status === 413) return sendError(req, res, 'PAYLOAD_TOO_LARGE', 'request body is too large');
    if (status === 415) return sendError(req, res, 'UNSUPPORTED_MEDIA_TYPE', 'unsupported content encoding or charset');
    if (status >= 400 && status < 500 && error.expose !== false) {
      const message = error.type === 'entity.parse.failed' ? 'request body is not valid JSON' : 'bad request';
      return sendError(req, res, 'BAD_REQUEST', message);
    }
    requestStateOf(res)?.log.error({ err: error }, 'unhandled error');
    sendError(req, res, 'INTERNAL_SERVER_ERROR', 'Internal server error');
  };
}
