// Per-request values shared by the express middleware and the tRPC context (kept on res.locals).
import type { Response } from 'express';
import type { Logger } from '../logger.ts';

export type RequestState = {
  requestId: string;
  /** Child logger bound to the request id (and the user id once authenticated). */
  log: Logger;
  /** Set by auth middleware so the request's log line names the user. */
  userId: string | undefined;
};

export function requestStateOf(res: Response): RequestState {
  return (res.locals as { state: RequestState }).state;
}

export function setRequestState(res: Response, state: RequestState): void {
  (res.locals as { state: RequestState }).state = state;
}
