// Runs a procedure's middleware chain as tRPC's own caller does (createProcedureCaller / callRecursive in
// @trpc/server), step for step, but with the language's object spread: tRPC's build copies the options at each
// level with a Babel helper (_objectSpread2: ownKeys, symbols, defineProperty per key), which was ~6% of an
// `auth.me` request's CPU. Its output validation is tRPC's, step for step, for the same reason: tRPC's returns
// the result copied by that helper (~3% of a `health.check`). server/trpc/invoke.test.ts checks it answers as the
// procedure itself does.
import { getTRPCErrorFromUnknown, TRPCError, type AnyTRPCProcedure, type TRPCProcedureType } from '@trpc/server';
import { getParseFn } from '@trpc/server/unstable-core-do-not-import';

/** What tRPC hands a procedure's caller. */
export type InvokeOptions = {
  path: string;
  type: TRPCProcedureType;
  ctx: unknown;
  getRawInput: () => Promise<unknown>;
  input?: unknown;
  signal: AbortSignal | undefined;
  batchIndex: number;
};

type MiddlewareResult = { ok: true; data: unknown; ctx?: unknown; marker: string } | { ok: false; error: TRPCError; marker: string };
type NextOptions = { ctx?: Record<string, unknown>; input?: unknown; getRawInput?: () => Promise<unknown> } | undefined;
type Middleware = ((opts: Record<string, unknown>) => Promise<MiddlewareResult>) & { _type?: string };
type ProcedureDef = { middlewares: Middleware[]; meta: unknown; caller?: unknown; output?: unknown };

const MARKER = 'middlewareMarker';

/** tRPC's output middleware (createOutputMiddleware), its result copied by the language's spread. */
function outputMiddleware(output: unknown): Middleware {
  const parse = getParseFn(output as Parameters<typeof getParseFn>[0]);
  return async ({ next }) => {
    const result = await (next as () => Promise<MiddlewareResult>)();
    if (!result.ok) return result;
    try {
      return { ...result, data: await parse(result.data) };
    } catch (cause) {
      throw new TRPCError({ message: 'Output validation failed', code: 'INTERNAL_SERVER_ERROR', cause });
    }
  };
}

/** Each procedure's chain with its output middleware replaced by ours, made on its first call. */
const chains = new WeakMap<ProcedureDef, ProcedureDef>();
function chainOf(def: ProcedureDef): ProcedureDef {
  let chain = chains.get(def);
  if (!chain) {
    const outputs = def.middlewares.filter((middleware) => middleware._type === 'output');
    // One output schema, as the builder makes it; anything else keeps tRPC's own middleware.
    chain = outputs.length === 1 && def.output !== undefined ? { ...def, middlewares: def.middlewares.map((middleware) => (middleware._type === 'output' ? outputMiddleware(def.output) : middleware)) } : def;
    chains.set(def, chain);
  }
  return chain;
}

async function callRecursive(index: number, def: ProcedureDef, opts: InvokeOptions): Promise<MiddlewareResult> {
  try {
    const middleware = def.middlewares[index];
    return await middleware({
      ...opts,
      meta: def.meta,
      input: opts.input,
      next(nextOpts: NextOptions) {
        return callRecursive(index + 1, def, {
          ...opts,
          ctx: nextOpts?.ctx ? { ...(opts.ctx as Record<string, unknown>), ...nextOpts.ctx } : opts.ctx,
          input: nextOpts && 'input' in nextOpts ? nextOpts.input : opts.input,
          getRawInput: nextOpts?.getRawInput ?? opts.getRawInput,
        });
      },
    });
  } catch (cause) {
    return { ok: false, error: getTRPCErrorFromUnknown(cause), marker: MARKER };
  }
}

/** Calls `procedure` as `procedure(opts)` would: its data, or its error thrown. */
export async function invokeProcedure(procedure: AnyTRPCProcedure, opts: InvokeOptions): Promise<unknown> {
  const def = procedure._def as unknown as ProcedureDef;
  // A procedure with a caller of its own (experimental_caller) goes through tRPC.
  if (def.caller || !Array.isArray(def.middlewares)) return (procedure as unknown as (o: InvokeOptions) => Promise<unknown>)(opts);
  const result = await callRecursive(0, chainOf(def), opts);
  if (!(result as MiddlewareResult | undefined)) {
    throw new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'No result from middlewares - did you forget to `return next()`?' });
  }
  if (!result.ok) throw result.error;
  return result.data;
}
