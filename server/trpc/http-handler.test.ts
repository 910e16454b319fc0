// The lean tRPC handler must answer exactly as tRPC's own express adapter: same statuses, bodies and headers.
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExpressMiddleware } from '@trpc/server/adapters/express';
import superjson from 'superjson';
import { z } from 'zod';
import { AppError } from '../errors.ts';
import { listen } from '../http/server.ts';
import { closeDeps, type Deps } from '../deps.ts';
import { createTestDeps } from '../testing/harness.ts';
import { createInnerContext, type Context } from './context.ts';
import { createTrpcHandler } from './http-handler.ts';
import { publicProcedure, router } from './init.ts';
import type { Server } from 'node:http';

const testRouter = router({
  time: publicProcedure.output(z.object({ at: z.date() })).query(() => ({ at: new Date('2026-01-01T00:00:00Z') })),
  echo: publicProcedure.input(z.object({ text: z.string().max(5) })).query(({ input }) => input.text),
  forbidden: publicProcedure.query(() => {
    throw new AppError('FORBIDDEN', 'not yours');
  }),
  crash: publicProcedure.query(() => {
    throw new Error('boom');
  }),
  nested: router({ add: publicProcedure.input(z.object({ a: z.number(), b: z.number() })).mutation(({ input }) => input.a + input.b) }),
  save: publicProcedure.input(z.object({ when: z.date() })).mutation(({ input }) => ({ year: input.when.getUTCFullYear() })),
});

describe('lean tRPC handler', () => {
  let deps: Deps;
  let server: Server;
  let base: string;
  beforeAll(async () => {
    deps = await createTestDeps('sqlite');
    const createContext = ({ req }: { req: express.Request }): Context => {
      if (req.headers['x-fail-context']) throw new Error('context failed');
      return createInnerContext(deps, { requestId: 'fixed' });
    };
    const app = express();
    app.use(express.text({ type: 'application/json' }));
    app.use('/official', createExpressMiddleware({ router: testRouter, createContext, maxBatchSize: 3 }));
    app.use('/lean', createTrpcHandler({ router: testRouter, createContext, maxBatchSize: 3 }));
    ({ server, url: base } = await listen(app, '127.0.0.1', 0));
  });
  afterAll(async () => {
    server.close();
    await closeDeps(deps);
  });

  const input = (value: unknown) => encodeURIComponent(JSON.stringify(superjson.serialize(value)));
  const batchInput = (values: Record<number, unknown>) =>
    encodeURIComponent(JSON.stringify(Object.fromEntries(Object.entries(values).map(([key, value]) => [key, superjson.serialize(value)]))));
  const json = { 'content-type': 'application/json' };

  const cases: [string, string, RequestInit?][] = [
    ['a query', '/time'],
    ['a query with input', `/echo?input=${input({ text: 'hi' })}`],
    ['invalid input', `/echo?input=${input({ text: 'too long' })}`],
    ['missing input', '/echo'],
    ['input that is not JSON', '/echo?input=%7Bnope'],
    ['a domain error', '/forbidden'],
    ['an unexpected error', '/crash'],
    ['an unknown procedure', '/nope'],
    ['a prototype key as path', '/toString'],
    ['an empty path', '/'],
    ['bad URL encoding', '/%E0%A4%A'],
    ['a batch', `/time,echo,forbidden?batch=1&input=${batchInput({ 1: { text: 'x' } })}`],
    ['a batch without input', '/time,time?batch=1'],
    ['a batch whose input is not an object', '/echo,echo?batch=1&input=5'],
    ['a batch over the limit', '/time,time,time,time?batch=1'],
    ['a batch of commas', '/,,,,?batch=1'],
    ['a batch with an unknown path', '/time,missing?batch=1'],
    ['a batch mixing queries and mutations', '/time,nested.add?batch=1'],
    ['a mutation', '/nested.add', { method: 'POST', headers: json, body: JSON.stringify(superjson.serialize({ a: 1, b: 2 })) }],
    ['a mutation with a Date input', '/save', { method: 'POST', headers: json, body: JSON.stringify(superjson.serialize({ when: new Date('2030-05-01') })) }],
    ['a mutation batch', '/nested.add,save?batch=1', { method: 'POST', headers: json, body: JSON.stringify({ 0: superjson.serialize({ a: 2, b: 2 }), 1: superjson.serialize({ when: 'x' }) }) }],
    ['a mutation with invalid JSON', '/nested.add', { method: 'POST', headers: json, body: '{"json":' }],
    ['a mutation without a body', '/nested.add', { method: 'POST', headers: json }],
    ['a query over POST', '/time', { method: 'POST', headers: json, body: '{}' }],
    ['a mutation over GET', '/nested.add'],
    ['a failing context', '/time', { headers: { 'x-fail-context': '1' } }],
    ['a failing context in a batch', '/time,echo?batch=1', { headers: { 'x-fail-context': '1' } }],
    ['HEAD', '/time', { method: 'HEAD' }],
  ];

  it.each(cases)('answers %s like tRPC’s adapter', async (_name, path, init) => {
    const [official, lean] = await Promise.all([fetch(`${base}/official${path}`, init), fetch(`${base}/lean${path}`, init)]);
    expect(lean.status).toBe(official.status);
    expect(lean.headers.get('allow')).toBe(official.headers.get('allow'));
    // The lean path compresses its own answers (no compression middleware is in front of it), so they also vary with
    // Accept-Encoding; otherwise the same.
    expect(lean.headers.get('vary')?.replace(/, accept-encoding$/, '') ?? null).toBe(official.headers.get('vary'));
    // tRPC's adapter labels errors about the whole request text/plain although the body is JSON; we say JSON.
    const officialType = official.headers.get('content-type')?.replace('text/plain;charset=UTF-8', 'application/json');
    expect(lean.headers.get('content-type')).toBe(officialType ?? null);
    const [officialBody, leanBody] = await Promise.all([official.text(), lean.text()]);
    expect(leanBody.length > 0 ? JSON.parse(leanBody) : leanBody).toEqual(officialBody.length > 0 ? JSON.parse(officialBody) : officialBody);
  });

  it('refuses input nested too deep to decode with a 400 in its own words', async () => {
    const depth = 20_000;
    const body = `{"json":{"a":${'['.repeat(depth)}${']'.repeat(depth)},"b":1}}`;
    const response = await fetch(`${base}/lean/nested.add`, { method: 'POST', headers: json, body });
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { json: { message: string } } };
    expect(error.json.message).toBe('input could not be decoded');
  });
});
