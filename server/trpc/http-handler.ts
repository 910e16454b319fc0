// A lean express handler for tRPC's HTTP protocol (JSON queries, mutations and batches) that skips the
// fetch Request/Response round trip of tRPC's node adapter; anything else goes to that adapter unchanged.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import {
  getTRPCErrorFromUnknown,
  getTRPCErrorShape,
  transformTRPCResponse,
  TRPCError,
  type AnyTRPCProcedure,
  type AnyTRPCRouter,
  type inferRouterContext,
  type TRPCErrorShape,
  type TRPCProcedureType,
} from '@trpc/server';
import { getHTTPStatusCode } from '@trpc/server/http';
import { endCompressible } from '../http/compress.ts';
import { invokeProcedure } from './invoke.ts';

type ErrorInfo<TRouter extends AnyTRPCRouter> = {
  error: TRPCError;
  path: string | undefined;
  input: unknown;
  ctx: inferRouterContext<TRouter> | undefined;
  type: TRPCProcedureType | 'unknown';
  req: Request;
};

export type TrpcHandlerOptions<TRouter extends AnyTRPCRouter> = {
  router: TRouter;
  createContext: (opts: { req: Request; res: Response }) => inferRouterContext<TRouter> | Promise<inferRouterContext<TRouter>>;
  maxBatchSize: number;
  onError?: (info: ErrorInfo<TRouter>) => void;
  /** Extra response headers derived from the calls' errors (Retry-After for rate limits, say). */
  errorHeaders?: (errors: TRPCError[]) => Record<string, string>;
};

type RootConfig = Parameters<typeof transformTRPCResponse>[0];

const METHOD_OF: Record<TRPCProcedureType, string> = { query: 'GET', mutation: 'POST', subscription: 'GET' };

/** What the lean path serves; streaming (jsonl, SSE), HEAD and connection params stay with tRPC's adapter. */
function isPlainCall(req: Request): boolean {
  if (req.method !== 'GET' && req.method !== 'POST') return false;
  const accept = req.headers['trpc-accept'] ?? req.headers.accept;
  if (accept === 'application/jsonl' || accept === 'text/event-stream') return false;
  return !req.url.includes('connectionParams=');
}

function isDataStream(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (Symbol.asyncIterator in value) return true;
  return Object.values(value).some(
    (item) => item instanceof Promise || (typeof item === 'object' && item !== null && Symbol.asyncIterator in item),
  );
}

export function createTrpcHandler<TRouter extends AnyTRPCRouter>(opts: TrpcHandlerOptions<TRouter>): RequestHandler {
  const { router, maxBatchSize, onError } = opts;
  const config = router._def._config as RootConfig;
  const procedures = router._def.procedures as Record<string, AnyTRPCProcedure>;
  // tRPC's adapter is loaded on its first request: its module imports node:http as an ES module, and building that
  // module's namespace reads node:http's lazy WebSocket getters, which load undici (60-80 ms of every start here).
  let adapter: Promise<RequestHandler> | undefined;
  const fallback = async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    adapter ??= import('@trpc/server/adapters/express').then(({ createExpressMiddleware }) =>
      createExpressMiddleware({
        router,
        createContext: opts.createContext,
        maxBatchSize,
        onError,
        responseMeta: opts.errorHeaders ? ({ errors }) => ({ headers: opts.errorHeaders!(errors) }) : undefined,
      }),
    );
    const handler = await adapter;
    await handler(req, res, next);
  };

  async function handle(req: Request, res: Response): Promise<void> {
    const queryStart = req.url.indexOf('?');
    const search = new URLSearchParams(queryStart === -1 ? '' : req.url.slice(queryStart + 1));
    const isBatch = search.get('batch') === '1';
    const rawPath = req.path.slice(req.path.lastIndexOf('/') + 1);
    let paths: string[];
    try {
      paths = isBatch ? decodeURIComponent(rawPath).split(',') : [decodeURIComponent(rawPath)];
    } catch (cause) {
      return send(req, res, { error: new TRPCError({ code: 'BAD_REQUEST', message: `Invalid URL-encoding in path "${rawPath}"`, cause }) });
    }
    if (isBatch && paths.length > maxBatchSize) {
      return send(req, res, { error: new TRPCError({ code: 'BAD_REQUEST', message: 'Batch call exceeds maximum size' }) });
    }
    const calls = paths.map((path) => ({ path, procedure: Object.hasOwn(procedures, path) ? procedures[path] : undefined }));
    const types = new Set(calls.flatMap((call) => (call.procedure ? [call.procedure._def.type] : [])));
    if (types.has('subscription')) {
      // Inside handle: a failure to load the adapter reaches express's error handler through handle's catch.
      return fallback(req, res, () => {});
    }
    if (types.size > 1) {
      return send(req, res, { error: new TRPCError({ code: 'BAD_REQUEST', message: `Cannot mix procedure types in call: ${[...types].join(', ')}` }) });
    }

    // Inputs are parsed once, on first use, like tRPC's own adapter: a call that fails earlier never parses them.
    let inputs: Record<number, unknown> | undefined;
    let inputError: TRPCError | undefined;
    const readInputs = (): Record<number, unknown> => {
      if (inputError) throw inputError;
      if (inputs) return inputs;
      try {
        const text = req.method === 'GET' ? search.get('input') : typeof req.body === 'string' ? req.body : '';
        const parsed: unknown = text ? JSON.parse(text) : undefined;
        inputs = {};
        if (parsed === undefined) return inputs;
        if (!isBatch) {
          inputs[0] = config.transformer.input.deserialize(parsed);
          return inputs;
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
          throw new TRPCError({ code: 'BAD_REQUEST', message: '"input" needs to be an object when doing a batch call' });
        }
        for (const index of paths.keys()) {
          const value = (parsed as Record<string, unknown>)[index];
          if (value !== undefined) inputs[index] = config.transformer.input.deserialize(value);
        }
        return inputs;
      } catch (cause) {
        inputs = undefined;
        // JSON's own message, as tRPC's adapter says it; anything else (a stack overflow on absurd nesting, say) is
        // the decoder's business, not the client's.
        const message = cause instanceof SyntaxError ? cause.message : 'input could not be decoded';
        inputError = cause instanceof TRPCError ? cause : new TRPCError({ code: 'BAD_REQUEST', message, cause });
        throw inputError;
      }
    };

    let ctx: inferRouterContext<TRouter> | undefined;
    let ctxError: TRPCError | undefined;
    try {
      ctx = await opts.createContext({ req, res });
    } catch (cause) {
      ctxError = getTRPCErrorFromUnknown(cause);
    }

    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    let allow: string | undefined;

    const results = await Promise.all(
      calls.map(async ({ path, procedure }, batchIndex) => {
        try {
          if (!procedure) throw new TRPCError({ code: 'NOT_FOUND', message: `No procedure found on path "${path}"` });
          const type = procedure._def.type;
          if (METHOD_OF[type] !== req.method) {
            allow = METHOD_OF[type];
            throw new TRPCError({ code: 'METHOD_NOT_SUPPORTED', message: `Unsupported ${req.method}-request to ${type} procedure at path "${path}"` });
          }
          if (ctxError) throw ctxError;
          const data: unknown = await invokeProcedure(procedure, { path, getRawInput: async () => readInputs()[batchIndex], ctx, type, signal: abort.signal, batchIndex });
          if (isDataStream(data)) {
            throw new TRPCError({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Cannot use stream-like response in non-streaming request - use httpBatchStreamLink' });
          }
          return { ok: true as const, data };
        } catch (cause) {
          const error = getTRPCErrorFromUnknown(cause);
          const type: TRPCProcedureType | 'unknown' = procedure?._def.type ?? 'unknown';
          const input = inputs?.[batchIndex];
          onError?.({ error, path, input, ctx, type, req });
          return { ok: false as const, error, path, input, type };
        }
      }),
    );

    const errors: TRPCError[] = [];
    const untransformed = results.map((result) => {
      if (result.ok) return { result: { data: result.data } };
      errors.push(result.error);
      const shape = getTRPCErrorShape({ config, error: result.error, type: result.type, path: result.path, input: result.input, ctx }) as TRPCErrorShape;
      return { error: shape };
    });
    if (allow) res.setHeader('allow', allow);
    const body = isBatch ? untransformed : untransformed[0];
    // transformTRPCResponse's work for these two shapes, in object literals: its build copies each item with a
    // Babel spread helper (~1% of an auth.me request's CPU).
    const serialize = (value: unknown): unknown => config.transformer.output.serialize(value);
    const serialized = untransformed.map((item) => ('error' in item ? { error: serialize(item.error) } : { result: { data: serialize(item.result.data) } }));
    write(req, res, getHTTPStatusCode(body, results.map((result) => (result.ok ? undefined : result.error))), isBatch ? serialized : serialized[0], errors);
  }

  /** An error about the request as a whole: one error object, not one per call. */
  function send(req: Request, res: Response, { error }: { error: TRPCError }): void {
    onError?.({ error, path: undefined, input: undefined, ctx: undefined, type: 'unknown', req });
    const shape = getTRPCErrorShape({ config, error, type: 'unknown', path: undefined, input: undefined, ctx: undefined }) as TRPCErrorShape<{ httpStatus: number }>;
    write(req, res, shape.data.httpStatus, transformTRPCResponse(config, { error: shape }), [error]);
  }

  function write(req: Request, res: Response, status: number, json: unknown, errors: TRPCError[]): void {
    res.statusCode = status;
    res.setHeader('vary', 'trpc-accept, accept');
    res.setHeader('content-type', 'application/json');
    if (errors.length > 0 && opts.errorHeaders) {
      for (const [name, value] of Object.entries(opts.errorHeaders(errors))) res.setHeader(name, value);
    }
    // One write with a known length (Node sends no chunked framing), compressed here when it is big enough: the
    // app's compression middleware is not in front of this handler.
    endCompressible(req, res, JSON.stringify(json));
  }

  return (req: Request, res: Response, next: NextFunction) => {
    if (!isPlainCall(req)) return void fallback(req, res, next).catch(next);
    handle(req, res).catch(next);
  };
}
