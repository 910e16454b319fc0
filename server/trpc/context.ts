// The context procedures see: built by tests directly (createInnerContext) or per HTTP request (createHttpContext).
import type { Request, Response } from 'express';
import type { Deps } from '../deps.ts';
import { requestStateOf, type RequestState } from '../http/request-state.ts';

export type Context = {
  deps: Deps;
  /** Request id, request-scoped logger and the user id for the request's log line. */
  state: RequestState;
  /** Client address as express resolves it under TRUST_PROXY; null outside HTTP. */
  ip: string | null;
  userAgent: string | null;
};

export type InnerContextOptions = { requestId?: string; ip?: string | null; userAgent?: string | null };

/** What a procedure needs, without HTTP: what tests build for createCaller. */
export function createInnerContext(deps: Deps, options: InnerContextOptions = {}): Context {
  const requestId = options.requestId ?? crypto.randomUUID();
  return {
    deps,
    state: { requestId, log: deps.logger.child({ reqId: requestId }), userId: undefined },
    ip: options.ip ?? null,
    userAgent: options.userAgent ?? null,
  };
}

/** The HTTP part: request id, logger and client address come from the express request. */
export function createHttpContext(deps: Deps) {
  return ({ req, res }: { req: Request; res: Response }): Context => ({
    deps,
    state: requestStateOf(res),
    ip: req.ip ?? null,
    userAgent: req.get('user-agent') ?? null,
  });
}
