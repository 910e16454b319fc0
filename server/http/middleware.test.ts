// fixedHeaders: a middleware's request-independent headers, worked out once and replayed on every response.
// series: several middleware as one express layer, with express's own ways for an error to leave one.
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { fixedHeaders, series } from './middleware.ts';

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

describe('series', () => {
  /** GET / on an app with `handlers` in series as one layer, then a route that says what ran, then an error handler. */
  async function run(...handlers: RequestHandler[]): Promise<{ status: number; body: string }> {
    const app = express();
    app.use((_req, res, next) => {
      res.locals.ran = [];
      next();
    });
    app.use(series(...handlers));
    app.use((_req, res) => void res.send(`after ${(res.locals.ran as string[]).join(',')}`));
    app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => void res.status(500).send(`error ${error.message} after ${(res.locals.ran as string[]).join(',')}`));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      return { status: response.status, body: await response.text() };
    } finally {
      server.close();
    }
  }
  const step = (name: string): RequestHandler => (_req, res, next) => {
    (res.locals.ran as string[]).push(name);
    next();
  };

  it('runs its middleware in order, the asynchronous ones too, then goes on to the next layer', async () => {
    const later: RequestHandler = async (_req, res, next) => {
      await new Promise((resolve) => setImmediate(resolve));
      (res.locals.ran as string[]).push('b');
      next();
    };
    expect(await run(step('a'), later, step('c'))).toEqual({ status: 200, body: 'after a,b,c' });
    expect(await run()).toEqual({ status: 200, body: 'after ' });
  });

  it('stops where a middleware answers', async () => {
    expect(await run(step('a'), (_req, res) => void res.status(204).end(), step('c'))).toEqual({ status: 204, body: '' });
  });

  it('hands an error to express however it leaves a middleware: passed to next, thrown, or a rejected promise', async () => {
    expect(await run(step('a'), (_req, _res, next) => next(new Error('passed')), step('c'))).toEqual({ status: 500, body: 'error passed after a' });
    expect(await run(step('a'), () => { throw new Error('thrown'); }, step('c'))).toEqual({ status: 500, body: 'error thrown after a' });
    expect(await run(step('a'), async () => { await Promise.resolve(); throw new Error('rejected'); }, step('c'))).toEqual({ status: 500, body: 'error rejected after a' });
  });
});
