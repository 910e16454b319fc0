// The context procedures see: built by tests directly (createInnerContext) or per HTTP request (createHttpContext).
import type { Request, Response } from 'express';
import type { Deps } from '../deps.ts';
import { noCookies, readCookie, sessionCookieFor, sessionCookieName, type SessionCookie } from '../http/cookies.ts';
import { createRequestState, requestStateOf, type RequestState } from '../http/request-state.ts';
import { authenticate, type Authenticated } from '../services/auth.ts';

/** Where the caller's token came from: CSRF rules apply only to the cookie. */
export type Credentials = { token: string; transport: 'bearer' | 'cookie' };

export type Context = {
  deps: Deps;
  /** Request id, request-scoped logger and the user id for the request's log line. */
  state: RequestState;
  /** Client address as express resolves it under TRUST_PROXY; null outside HTTP. */
  ip: string | null;
  userAgent: string | null;
  credentials: Credentials | null;
  /** A state-changing request from an origin we do not trust: a session cookie does not authenticate it. */
  crossSite: boolean;
  /** The request names an `Origin` that is neither ours nor a CORS_ORIGINS one, whatever its method. */
  foreignOrigin: boolean;
  sessionCookie: SessionCookie;
  /** The request's `Idempotency-Key` header (tasks.submit and posts.create honour it; see services/idempotency.ts). */
  idempotencyKey: string | null;
  /** Who the credentials belong to; looked up once per request (a batch shares it), null when nobody. */
  authenticate: () => Promise<Authenticated | null>;
};

export type InnerContextOptions = {
  requestId?: string;
  ip?: string | null;
  userAgent?: string | null;
  /** A session or API token, as a program would send it in `Authorization: Bearer`. */
  token?: string;
  sessionCookie?: SessionCookie;
  idempotencyKey?: string;
};

function memoizedAuthentication(deps: Deps, credentials: Credentials | null, cookie: SessionCookie): Context['authenticate'] {
  let result: Promise<Authenticated | null> | undefined;
  return () =>
    (result ??= (async () => {
      if (!credentials) return null;
      const auth = await authenticate(deps, credentials.token);
      if (credentials.transport === 'cookie') {
        // Keep the browser's cookie in step with the session: extended when renewed, gone when dead.
        if (!auth) cookie.clear();
        else if (auth.kind === 'session' && auth.session.renewed) cookie.set(credentials.token, auth.session.expiresAt);
      }
      return auth;
    })());
}

/** What a procedure needs, without HTTP: what tests build for createCaller. */
export function createInnerContext(deps: Deps, options: InnerContextOptions = {}): Context {
  const requestId = options.requestId ?? crypto.randomUUID();
  const credentials: Credentials | null = options.token ? { token: options.token, transport: 'bearer' } : null;
  const sessionCookie = options.sessionCookie ?? noCookies;
  return {
    deps,
    state: createRequestState(deps.logger, requestId),
    ip: options.ip ?? null,
    userAgent: options.userAgent ?? null,
    credentials,
    crossSite: false,
    foreignOrigin: false,
    sessionCookie,
    idempotencyKey: options.idempotencyKey ?? null,
    authenticate: memoizedAuthentication(deps, credentials, sessionCookie),
  };
}

function credentialsOf(req: Request, cookieName: string): Credentials | null {
  const authorization = req.headers.authorization;
  if (authorization) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    return match ? { token: match[1], transport: 'bearer' } : null;
  }
  const token = readCookie(req, cookieName);
  return token ? { token, transport: 'cookie' } : null;
}

/**
 * CSRF: a request that changes state must come from our own origin, a CORS_ORIGINS origin, or say
 * `Sec-Fetch-Site: same-origin`. Only cookie-authenticated requests are held to it.
 */
function isCrossSite(req: Request, trustedOrigins: ReadonlySet<string>): boolean {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return false;
  if (req.headers['sec-fetch-site'] === 'same-origin') return false;
  const origin = req.headers.origin;
  if (!origin) return true;
  return !trustedOrigins.has(origin) && origin !== `${req.protocol}://${req.headers.host}`;
}

/** The HTTP part: request id, logger, client address, credentials and the session cookie come from express. */
export function createHttpContext(deps: Deps) {
  const cookieName = sessionCookieName(deps.config);
  const trustedOrigins = new Set(deps.config.CORS_ORIGINS);
  return ({ req, res }: { req: Request; res: Response }): Context => {
    const credentials = credentialsOf(req, cookieName);
    const sessionCookie = sessionCookieFor(res, deps.config, deps.clock);
    const state = requestStateOf(res);
    return {
      deps,
      state,
      ip: state.ip ?? null,
      userAgent: req.get('user-agent') ?? null,
      credentials,
      crossSite: isCrossSite(req, trustedOrigins),
      foreignOrigin: req.headers.origin !== undefined && !trustedOrigins.has(req.headers.origin) && req.headers.origin !== `${req.protocol}://${req.headers.host}`,
      sessionCookie,
      idempotencyKey: req.get('idempotency-key') ?? null,
      authenticate: memoizedAuthentication(deps, credentials, sessionCookie),
    };
  };
}
