// fixedHeaders: a middleware's request-independent headers, worked out once and replayed on every response.
import type { Request, Response } from 'express';
import { describe, expect, it } from 'vitest';
import { fixedHeaders } from './middleware.ts';

function fakeResponse() {
  const headers = new Map<string, unknown>([['x-powered-by', 'Express']]);
  return {
    headers,
    res: { setHeader: (name: string, value: unknown) => headers.set(name.toLowerCase(), value), removeHeader: (name: string) => headers.delete(name.toLowerCase()) } as unknown as Response,
  };
}

describe('fixedHeaders', () => {
  it('replays what the middleware set and removed, once per response, without running it again', () => {
    let runs = 0;
    const handler = fixedHeaders((_req, res, next) => {
      runs++;
      res.setHeader('X-Frame-Options', 'DENY');
      res.setHeader('Content-Security-Policy', "default-src 'none'");
      res.removeHeader('X-Powered-By');
      next();
    });
    for (let i = 0; i < 2; i++) {
      const { headers, res } = fakeResponse();
      let passed = 0;
      handler({} as Request, res, () => passed++);
      expect(passed).toBe(1);
      expect(Object.fromEntries(headers)).toEqual({ 'x-frame-options': 'DENY', 'content-security-policy': "default-src 'none'" });
    }
    expect(runs).toBe(1);
  });

  it('refuses a middleware that does not finish at once (its headers could depend on the request)', () => {
    expect(() => fixedHeaders(() => {})).toThrow(/did not finish synchronously/);
  });

  it('refuses a middleware that fails', () => {
    expect(() => fixedHeaders((_req, _res, next) => next(new Error('broken')))).toThrow('broken');
  });
});
