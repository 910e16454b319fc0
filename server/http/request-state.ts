// Per-request values shared by the express middleware and the tRPC context (kept on res.locals).
import type { Response } from 'express';
import type { Logger } from '../logger.ts';

export type RequestState = {
  requestId: string;
  /** The client address as express resolves it under TRUST_PROXY, read once (each `req.ip` parses the headers again). */
  ip: string | undefined;
  /** Set by auth middleware so the request's log line (and its logger) name the user. */
  userId: string | undefined;
  /** The procedure a REST route ran (tRPC requests name theirs in the path). */
  procedure?: string;
  /** Child logger bound to the request id and user id; made on first use (most requests never log). */
  readonly log: Logger;
};

export function createRequestState(logger: Logger, requestId: string, ip?: string): RequestState {
  let child: Logger | undefined;
  let boundUser: string | undefined;
  return {
    requestId,
    ip,
    userId: undefined,
    get log() {
      if (!child || boundUser !== this.userId) {
        boundUser = this.userId;
        child = logger.child(boundUser ? { reqId: requestId, userId: boundUser } : { reqId: requestId });
      }
      return child;
    },
  };
}

export function requestStateOf(res: Response): RequestState {
  return (res.locals as { state: RequestState }).state;
}

export function setRequestState(res: Response, state: RequestState): void {
  (res.locals as { state: RequestState }).state = state;
}
