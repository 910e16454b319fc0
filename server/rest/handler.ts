// REST under /api: plain JSON for clients that do not speak tRPC. Each request is matched to a procedure by its
// `rest` route and runs through that procedure, so validation, auth, rate limits and errors are the same as /trpc.
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { getTRPCErrorFromUnknown, getTRPCErrorShape, TRPCError, type AnyTRPCRouter } from '@trpc/server';
import { getStatusCodeFromKey } from '@trpc/server/unstable-core-do-not-import';
import type { Context } from '../trpc/context.ts';
import { SSE_PING_MS } from '../trpc/init.ts';
import { invokeProcedure } from '../trpc/invoke.ts';
import type { ErrorShape } from '../trpc/errors.ts';
import { bySpecificity, matchOperation, type Operation, type QueryKind } from './operations.ts';
import { endCompressible } from '../http/compress.ts';

type ErrorInfo = { error: TRPCError; path: string | undefined; ctx: Context | undefined };

export type RestHandlerOptions = {
  /** A router whose procedures take our Context. */
  router: AnyTRPCRouter;
  operations: Operation[];
  createContext: (opts: { req: Request; res: Response }) => Context;
  bodyLimit: number;
  onError?: (info: ErrorInfo) => void;
  /** Extra response headers derived from an error (Retry-After for rate limits, say). */
  errorHeaders?: (errors: TRPCError[]) => Record<string, string>;
};

/** The body every REST error has: a stable `code`, a message, and per-field messages for bad input. */
export type RestError = {
  error: { code: TRPCError['code']; message: string; requestId?: string; fieldErrors?: Record<string, string[]>; retryAfterSeconds?: number };
};

type RootConfig = Parameters<typeof getTRPCErrorShape>[0]['config'];

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * A query-string value as its field's type. Only exact spellings convert ("true"/"false", decimal numbers): anything
 * else stays a string, so the field's schema rejects it with its usual message instead of guessing.
 */
function fromQuery(value: string, kind: QueryKind): unknown {
  if (kind === 'number' && NUMBER.test(value)) return Number(value);
  if (kind === 'boolean' && (value === 'true' || value === 'false')) return value === 'true';
  return value;
}

/** Known fields only. An empty value is an absent field (`?q=` from a form); a repeated one stays a list and is refused. */
function queryInput(operation: Operation, search: URLSearchParams): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const [name, kind] of operation.query) {
    const values = search.getAll(name).filter((value) => value !== '');
    if (values.length === 1) input[name] = fromQuery(values[0], kind);
    else if (values.length > 1) input[name] = values;
  }
  return input;
}

const badRequest = (message: string, cause?: unknown) => new TRPCError({ code: 'BAD_REQUEST', message, cause });

/** A request carries a body when it says so; bodies must be JSON objects. */
function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return length !== undefined ? length !== '0' : req.headers['transfer-encoding'] !== undefined;
}

/** An event's JSON, made once for all the streams that send the same (shared, never changed) event object. */
const eventTexts = new WeakMap<object, string>();
function eventJson(data: unknown): string {
  if (typeof data !== 'object' || data === null) return JSON.stringify(data);
  let text = eventTexts.get(data);
  if (text === undefined) eventTexts.set(data, (text = JSON.stringify(data)));
  return text;
}

export function createRestHandler(opts: RestHandlerOptions): RequestHandler {
  const { router, onError } = opts;
  const operations = [...opts.operations].sort(bySpecificity);
  const config = router._def._config as RootConfig;
  // Read as text, then parsed here: our own messages for malformed JSON, and the limit's 413 as an error like any other.
  const readText = express.text({ type: () => true, limit: opts.bodyLimit });

  function readBody(req: Request, res: Response): Promise<unknown> {
    if (!hasBody(req)) return Promise.resolve({});
    const [type, ...parameters] = (req.headers['content-type'] ?? '').split(';').map((part) => part.trim().toLowerCase());
    const charset = parameters.find((parameter) => parameter.startsWith('charset='))?.slice(8).replace(/"/g, '');
    // JSON is UTF-8 (RFC 8259): other charsets are refused rather than decoded.
    if (type !== 'application/json' || (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8')) {
      return Promise.reject(new TRPCError({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'a request body must have Content-Type: application/json (UTF-8)' }));
    }
    return new Promise((resolve, reject) => {
      readText(req, res, (error?: { status?: number; type?: string }) => {
        if (error) {
          if (error.status === 413) return reject(new TRPCError({ code: 'PAYLOAD_TOO_LARGE', message: 'request body is too large' }));
          if (error.status === 415) return reject(new TRPCError({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'unsupported content encoding or charset' }));
          return reject(badRequest('request body could not be read'));
        }
        const text = typeof req.body === 'string' ? req.body : '';
        if (text.trim() === '') return resolve({});
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          return reject(badRequest('request body is not valid JSON'));
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return reject(badRequest('request body must be a JSON object'));
        resolve(parsed);
      });
    });
  }

  async function inputOf(operation: Operation, req: Request, res: Response, params: Record<string, string>, search: URLSearchParams): Promise<unknown> {
    if (!operation.input) return undefined;
    let fields: unknown = {};
    if (operation.hasBody) fields = await readBody(req, res);
    else if (operation.route.method === 'GET') fields = queryInput(operation, search);
    // Path parameters win over a body field of the same name.
    return { ...(fields as Record<string, unknown>), ...params };
  }

  function sendError(req: Request, res: Response, error: TRPCError, operation: Operation | undefined, ctx: Context | undefined): void {
    onError?.({ error, path: operation?.procedurePath, ctx });
    const type = operation?.procedure._def.type ?? 'unknown';
    const shape = getTRPCErrorShape({ config, error, type, path: operation?.procedurePath, input: undefined, ctx }) as ErrorShape;
    const { code, requestId, fieldErrors, retryAfterSeconds } = shape.data;
    const body: RestError = { error: { code, message: shape.message, requestId, fieldErrors, retryAfterSeconds } };
    if (opts.errorHeaders) for (const [name, value] of Object.entries(opts.errorHeaders([error]))) res.setHeader(name, value);
    send(req, res, getStatusCodeFromKey(code), body);
  }

  function send(req: Request, res: Response, status: number, body: unknown): void {
    res.statusCode = status;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    // Dates become ISO 8601 strings: REST is plain JSON, without tRPC's superjson envelope. Compressed here when it
    // is big enough, as tRPC's answers are: the app's compression middleware is not in front of this handler.
    endCompressible(req, res, JSON.stringify(body));
  }

  /**
   * Server-sent events: `id:` and `data:` (plain JSON) per event, a `: ping` comment every 15 s so idle proxies
   * keep the connection, and an `error` event (the body an error response would have) if the stream fails.
   * Refusals (auth, NOT_FOUND, limits) came before this, as ordinary JSON errors with their status.
   */
  async function stream(res: Response, events: AsyncIterable<unknown>, signal: AbortSignal, operation: Operation, ctx: Context): Promise<void> {
    res.statusCode = 200;
    res.setHeader('content-type', 'text/event-stream; charset=utf-8');
    res.setHeader('cache-control', 'no-cache, no-transform');
    res.setHeader('x-accel-buffering', 'no');
    res.flushHeaders();
    // No compression middleware is in front of /api (and the stream says no-transform): each event leaves as written.
    const write = (text: string) => void res.write(text);
    write('retry: 2000\n\n');
    const ping = setInterval(() => write(': ping\n\n'), SSE_PING_MS);
    ping.unref();
    const iterator = events[Symbol.asyncIterator]();
    signal.addEventListener('abort', () => void iterator.return?.(), { once: true });
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done || signal.aborted) break;
        const [id, data] = next.value as [string, unknown];
        write(`id: ${id}\ndata: ${eventJson(data)}\n\n`);
      }
    } catch (cause) {
      const error = getTRPCErrorFromUnknown(cause);
      onError?.({ error, path: operation.procedurePath, ctx });
      const shape = getTRPCErrorShape({ config, error, type: 'subscription', path: operation.procedurePath, input: undefined, ctx }) as ErrorShape;
      const { code, requestId } = shape.data;
      if (!signal.aborted) write(`event: error\ndata: ${JSON.stringify({ error: { code, message: shape.message, requestId } })}\n\n`);
    } finally {
      clearInterval(ping);
      res.end();
    }
  }

  async function handle(req: Request, res: Response, next: NextFunction): Promise<void> {
    // req.path, not req.url: a request line in absolute form (`GET http://host/api/…`) keeps the origin in req.url.
    const queryStart = req.url.indexOf('?');
    const search = new URLSearchParams(queryStart === -1 ? '' : req.url.slice(queryStart + 1));
    const segments = req.path.replace(/^\/+|\/+$/g, '').split('/');

    // Created first, so every error (a malformed path included) carries the request id.
    const ctx = opts.createContext({ req, res });
    let operation: Operation | undefined;
    try {
      let match: ReturnType<typeof matchOperation>;
      try {
        match = matchOperation(operations, req.method, segments);
      } catch (cause) {
        throw badRequest('malformed URL escape in the path', cause);
      }
      if (!match) return next();
      if ('allow' in match) {
        res.setHeader('allow', match.allow.join(', '));
        if (req.method === 'OPTIONS') {
          res.status(204).end();
          return;
        }
        throw new TRPCError({ code: 'METHOD_NOT_SUPPORTED', message: `${req.method} is not allowed here; use ${match.allow.filter((method) => method !== 'OPTIONS').join(' or ')}` });
      }
      operation = match.operation;
      ctx.state.procedure = operation.procedurePath;
      const input = await inputOf(operation, req, res, match.params, search);
      const abort = new AbortController();
      res.once('close', () => {
        if (!res.writableFinished) abort.abort();
      });
      const { procedurePath, procedure } = operation;
      // A reconnecting EventSource sends its last event id as a header; the stream's input takes it as a field.
      const lastEventId = operation.stream ? req.headers['last-event-id'] : undefined;
      const fields = typeof lastEventId === 'string' && lastEventId !== '' ? { lastEventId, ...(input as Record<string, unknown> | undefined) } : input;
      const data: unknown = await invokeProcedure(procedure, { path: procedurePath, getRawInput: async () => fields, ctx, type: procedure._def.type, signal: abort.signal, batchIndex: 0 });
      if (operation.stream) return await stream(res, data as AsyncIterable<unknown>, abort.signal, operation, ctx);
      send(req, res, operation.route.status ?? 200, data);
    } catch (cause) {
      sendError(req, res, getTRPCErrorFromUnknown(cause), operation, ctx);
    }
  }

  return (req, res, next) => {
    handle(req, res, next).catch(next);
  };
}
