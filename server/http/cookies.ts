// The session cookie: HttpOnly, SameSite=Lax, Path=/; `__Host-` prefixed and Secure in production.
import type { Request, Response } from 'express';
import type { Config } from '../config.ts';
import type { Clock } from '../deps.ts';

export type SessionCookie = {
  set: (token: string, expiresAt: Date) => void;
  clear: () => void;
};

export const sessionCookieName = (config: Pick<Config, 'NODE_ENV'>): string =>
  config.NODE_ENV === 'production' ? '__Host-session' : 'session';

/** One cookie's value from a Cookie header, without a parser dependency. */
export function readCookie(req: Request, name: string): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}

export function sessionCookieFor(res: Response, config: Pick<Config, 'NODE_ENV'>, clock: Clock): SessionCookie {
  const name = sessionCookieName(config);
  const options = { httpOnly: true, sameSite: 'lax', secure: config.NODE_ENV === 'production', path: '/' } as const;
  return {
    set: (token, expiresAt) => {
      res.cookie(name, token, { ...options, maxAge: Math.max(0, expiresAt.getTime() - clock.now().getTime()) });
    },
    clear: () => {
      res.clearCookie(name, options);
    },
  };
}

/** A no-op cookie jar for callers without HTTP (createCaller in tests, scripts). */
export const noCookies: SessionCookie = { set: () => {}, clear: () => {} };
