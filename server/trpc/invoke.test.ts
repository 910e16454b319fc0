// invokeProcedure must run a procedure's middleware chain exactly as calling the procedure does: data, context
// extension, inputs, output validation, errors, and a chain that never calls next().
import { initTRPC, TRPCError, type AnyTRPCProcedure } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { invokeProcedure, type InvokeOptions } from './invoke.ts';

type Ctx = { user: string | null; seen: string[] };
const t = initTRPC.context<Ctx>().create();
const authed = t.procedure.use(({ ctx, next }) => {
  if (!ctx.user) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'who are you' });
  return next({ ctx: { user: ctx.user, role: 'member' as const } });
});
const procedures: Record<string, AnyTRPCProcedure> = {
  plain: t.procedure.query(() => 'plain'),
  context: authed.query(({ ctx }) => ({ user: ctx.user, role: ctx.role, seen: ctx.seen })),
  input: t.procedure.input(z.object({ a: z.number() })).input(z.object({ b: z.number() })).mutation(({ input }) => input.a + input.b),
  badOutput: t.procedure.output(z.object({ n: z.number() })).query(() => ({ n: 'not a number' }) as unknown as { n: number }),
  goodOutput: t.procedure.output(z.object({ n: z.number() })).query(() => ({ n: 1 })),
  // What the output schema leaves out never leaves: the parsed value is the data, not the handler's object.
  stripsOutput: t.procedure.output(z.object({ n: z.number() })).query(() => ({ n: 1, secret: 'x' })),
  throws: t.procedure.query(() => {
    throw new Error('boom');
  }),
  rewritesInput: t.procedure
    .use(({ next }) => next({ input: { a: 40, b: 2 } }))
    .input(z.object({ a: z.number(), b: z.number() }))
    .query(({ input }) => input.a * input.b),
  rawInput: t.procedure
    .use(({ next, getRawInput }) => next({ getRawInput: async () => ({ wrapped: await getRawInput() }) }))
    .input(z.object({ wrapped: z.unknown() }))
    .query(({ input }) => input),
  meta: t.procedure.meta({ tag: 'x' }).use(({ meta, next }) => next({ ctx: { tag: (meta as { tag: string }).tag } })).query(({ ctx }) => (ctx as { tag: string }).tag),
  noNext: t.procedure.use((async () => undefined) as never).query(() => 'unreachable'),
};

const options = (path: string, ctx: Ctx, raw: unknown): InvokeOptions => ({
  path,
  type: procedures[path]._def.type,
  ctx,
  getRawInput: async () => raw,
  signal: undefined,
  batchIndex: 0,
});

/** The outcome of a call: its data, or its error's class, code, message and cause's message. */
async function outcome(call: () => Promise<unknown>): Promise<unknown> {
  try {
    return { data: await call() };
  } catch (error) {
    const e = error as TRPCError;
    return { error: { isTRPC: e instanceof TRPCError, code: e.code, message: e.message, cause: (e.cause)?.message } };
  }
}

describe('invokeProcedure', () => {
  const cases: [string, Ctx, unknown][] = [
    ['plain', { user: null, seen: [] }, undefined],
    ['context', { user: 'ada', seen: ['x'] }, undefined],
    ['context', { user: null, seen: [] }, undefined],
    ['input', { user: null, seen: [] }, { a: 1, b: 2 }],
    ['input', { user: null, seen: [] }, { a: 1 }],
    ['badOutput', { user: null, seen: [] }, undefined],
    ['goodOutput', { user: null, seen: [] }, undefined],
    ['stripsOutput', { user: null, seen: [] }, undefined],
    ['throws', { user: null, seen: [] }, undefined],
    ['rewritesInput', { user: null, seen: [] }, { a: 1, b: 1 }],
    ['rawInput', { user: null, seen: [] }, 7],
    ['meta', { user: null, seen: [] }, undefined],
    ['noNext', { user: null, seen: [] }, undefined],
  ];
  it.each(cases)('answers %s as the procedure does', async (path, ctx, raw) => {
    const procedure = procedures[path];
    const ours = await outcome(() => invokeProcedure(procedure, options(path, ctx, raw)));
    const theirs = await outcome(() => (procedure as unknown as (o: InvokeOptions) => Promise<unknown>)(options(path, ctx, raw)));
    expect(ours).toEqual(theirs);
  });

  it('gives each call the data or error it expects (not only the same as tRPC)', async () => {
    expect(await outcome(() => invokeProcedure(procedures.context, options('context', { user: 'ada', seen: [] }, undefined)))).toEqual({ data: { user: 'ada', role: 'member', seen: [] } });
    expect(await outcome(() => invokeProcedure(procedures.input, options('input', { user: null, seen: [] }, { a: 1, b: 2 })))).toEqual({ data: 3 });
    expect(await outcome(() => invokeProcedure(procedures.badOutput, options('badOutput', { user: null, seen: [] }, undefined)))).toMatchObject({ error: { code: 'INTERNAL_SERVER_ERROR', message: 'Output validation failed' } });
    expect(await outcome(() => invokeProcedure(procedures.stripsOutput, options('stripsOutput', { user: null, seen: [] }, undefined)))).toEqual({ data: { n: 1 } });
    expect(await outcome(() => invokeProcedure(procedures.noNext, options('noNext', { user: null, seen: [] }, undefined)))).toMatchObject({ error: { code: 'INTERNAL_SERVER_ERROR' } });
  });
});
