// Error conversion and formatting, through the real builders and tRPC's own request handler, on both dialects.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TRPCError } from '@trpc/server';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import superjson from 'superjson';
import { z } from 'zod';
import { AppError } from '../errors.ts';
import { dialects, useTestDeps } from '../testing/harness.ts';
import { freePort } from '../testing/ports.ts';
import { createInnerContext } from './context.ts';
import { createCallerFactory, publicProcedure, router } from './init.ts';

const testRouter = router({
  validated: publicProcedure
    .input(z.object({ name: z.string().min(3), nested: z.object({ age: z.number().int().min(0) }) }))
    .output(z.object({ ok: z.boolean() }))
    .mutation(() => ({ ok: true })),
  domain: publicProcedure.input(z.void()).query(() => {
    throw new AppError('FORBIDDEN', 'not yours');
  }),
  conflict: publicProcedure.input(z.void()).query(() => {
    throw new AppError('CONFLICT', 'email is already taken', { fieldErrors: { email: ['email is already taken'] } });
  }),
  badOutput: publicProcedure
    .input(z.void())
    .output(z.object({ count: z.number() }))
    .query(() => ({ count: 'many' }) as unknown as { count: number }),
  crash: publicProcedure.input(z.void()).query(() => {
    throw new Error('connection to 10.0.0.7 refused: password authentication failed for user "app"');
  }),
  /** What each driver really throws when its database cannot serve: SQLite locked by another connection, Postgres refusing connections. */
  unavailable: publicProcedure.input(z.void()).query(async ({ ctx }) => {
    if (ctx.deps.db.dialect === 'sqlite') {
      const { default: BetterSqlite3 } = await import('better-sqlite3');
      const dir = mkdtempSync(join(tmpdir(), 'busy-'));
      const holder = new BetterSqlite3(join(dir, 'busy.db'));
      const other = new BetterSqlite3(join(dir, 'busy.db'), { timeout: 0 });
      try {
        holder.exec('create table t (x); begin immediate; insert into t values (1)');
        other.exec('insert into t values (2)');
      } finally {
        holder.close();
        other.close();
        rmSync(dir, { recursive: true, force: true });
      }
    } else {
      const { default: pg } = await import('pg');
      await new pg.Client({ host: '127.0.0.1', port: await freePort(), user: 'app', password: 'secret', connectionTimeoutMillis: 5_000 }).connect();
    }
    return 'unreachable';
  }),
  duplicate: publicProcedure.input(z.void()).mutation(async ({ ctx }) => {
    const { orm, tables } = ctx.deps.db;
    const row = { username: 'dup', email: `dup-${crypto.randomUUID()}@example.com`, passwordHash: 'x' };
    await orm.insert(tables.users).values(row).onConflictDoNothing();
    await orm.insert(tables.users).values({ ...row, username: 'DUP', email: `x${row.email}` });
    return 'unreachable';
  }),
});

describe.each(dialects)('errors on %s', (dialect) => {
  const deps = useTestDeps(dialect);

  /** One call through tRPC's fetch handler with our context: the wire shape a client decodes. */
  async function callOverWire(path: string, method: 'GET' | 'POST', input?: unknown) {
    const body = input === undefined ? undefined : JSON.stringify(superjson.serialize(input));
    const response = await fetchRequestHandler({
      endpoint: '/trpc',
      req: new Request(`http://test/trpc/${path}`, { method, body, headers: method === 'POST' ? { 'content-type': 'application/json' } : {} }),
      router: testRouter,
      createContext: () => createInnerContext(deps.current, { requestId: 'req-123' }),
    });
    const json = (await response.json()) as { error: { json: { message: string; data: Record<string, unknown> } } };
    return { status: response.status, error: json.error.json };
  }

  it('gives bad input a BAD_REQUEST with a readable message and per-field errors', async () => {
    const { status, error } = await callOverWire('validated', 'POST', { name: 'ab', nested: { age: -1 } });
    expect(status).toBe(400);
    expect(error.message).toMatch(/^Invalid input: name: /);
    expect(error.data).toMatchObject({ code: 'BAD_REQUEST', httpStatus: 400, requestId: 'req-123' });
    expect(Object.keys(error.data.fieldErrors as object).sort()).toEqual(['name', 'nested.age']);
    expect((error.data.fieldErrors as Record<string, string[]>).name[0]).toMatch(/3/);
  });

  it('maps domain errors to their code, keeping their message and field errors', async () => {
    const forbidden = await callOverWire('domain', 'GET');
    expect(forbidden.status).toBe(403);
    expect(forbidden.error).toMatchObject({ message: 'not yours', data: { code: 'FORBIDDEN' } });
    const conflict = await callOverWire('conflict', 'GET');
    expect(conflict.status).toBe(409);
    expect(conflict.error.data.fieldErrors).toEqual({ email: ['email is already taken'] });
  });

  it('turns a unique violation nobody handled into a CONFLICT naming the field', async () => {
    const { status, error } = await callOverWire('duplicate', 'POST');
    expect(status).toBe(409);
    expect(error.data).toMatchObject({ code: 'CONFLICT', fieldErrors: { username: ['username already exists'] } });
    expect(JSON.stringify(error)).not.toMatch(/insert|users_username_unique|params/i);
  });

  it('treats output that fails its schema as our fault: a generic 500, no zod details', async () => {
    const { status, error } = await callOverWire('badOutput', 'GET');
    expect(status).toBe(500);
    expect(error).toEqual({
      message: 'Internal server error',
      code: -32603,
      data: { code: 'INTERNAL_SERVER_ERROR', httpStatus: 500, path: 'badOutput', requestId: 'req-123' },
    });
  });

  it('never lets an unexpected error message or stack reach the client', async () => {
    const { status, error } = await callOverWire('crash', 'GET');
    expect(status).toBe(500);
    expect(error.message).toBe('Internal server error');
    expect(JSON.stringify(error)).not.toMatch(/10\.0\.0\.7|password|stack|at /);
  });

  it('turns a database that cannot serve into a SERVICE_UNAVAILABLE to retry, without the driver’s words', async () => {
    const { status, error } = await callOverWire('unavailable', 'GET');
    expect(status).toBe(503);
    expect(error).toMatchObject({ message: 'the service cannot reach its database; retry shortly', data: { code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: 1 } });
    expect(JSON.stringify(error)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|SQLITE|locked|busy|secret/i);
  });

  it('gives createCaller users the same codes', async () => {
    const caller = createCallerFactory(testRouter)(createInnerContext(deps.current));
    await expect(caller.domain()).rejects.toMatchObject({ code: 'FORBIDDEN', message: 'not yours' });
    await expect(caller.duplicate()).rejects.toMatchObject({ code: 'CONFLICT' });
    const error = await caller.validated({ name: 'x', nested: { age: 1 } }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(TRPCError);
    expect((error as TRPCError).code).toBe('BAD_REQUEST');
  });
});
