// @ai-backend-service/client: a typed tRPC client for ai-backend-service, with token handling, safe batching, retries and error helpers.
// tRPC's declarations name `Disposable` and `AsyncDisposable` (TypeScript's esnext.disposable library); kept in the
// shipped declarations, so a browser project with lib ["dom", "es2022"] type-checks without adding it.
/// <reference lib="esnext.disposable" preserve="true" />
import {
  createTRPCClient,
  httpBatchLink,
  httpLink,
  httpSubscriptionLink,
  splitLink,
  TRPCClientError,
  type HTTPBatchLinkOptions,
  type Operation,
  type TRPCClient,
  type TRPCLink,
} from '@trpc/client';
import { EventSource } from 'eventsource';
import type { inferRouterInputs, inferRouterOutputs, inferTRPCClientTypes } from '@trpc/server';
import { observable, type Unsubscribable } from '@trpc/server/observable';
import superjson from 'superjson';
import type { AppRouter, ErrorShape } from './app-router.js';

export { TRPCClientError };
export type { AppRouter, ErrorShape };
/** `RouterInputs['posts']['create']`: what a procedure takes. */
export type RouterInputs = inferRouterInputs<AppRouter>;
/** `RouterOutputs['tasks']['get']`: what a procedure returns. */
export type RouterOutputs = inferRouterOutputs<AppRouter>;
/** The `code` of an error: `BAD_REQUEST`, `UNAUTHORIZED`, `FORBIDDEN`, `NOT_FOUND`, `CONFLICT`, `TOO_MANY_REQUESTS`… */
export type ApiErrorCode = ErrorShape['data']['code'];
/** Messages per input field, keyed by the field's path (`email`, `input.text`). */
export type FieldErrors = Record<string, string[]>;
/** A task as `tasks.get` returns it. */
export type Task = RouterOutputs['tasks']['get'];
/** A task that has finished: `completed` (with its `result`), `failed` (with its `error`) or `cancelled`. */
export type FinishedTask = Extract<Task, { status: 'completed' | 'failed' | 'cancelled' }>;
/** The service's rate-limit budget as its last response stated it (`RateLimit-*` headers). */
export type RateLimit = { limit: number; remaining: number; resetSeconds: number };

type Fetch = NonNullable<HTTPBatchLinkOptions<inferTRPCClientTypes<AppRouter>>['fetch']>;
/** What the transport fetch works with: the platform's `fetch`, whatever `ClientOptions.fetch` declares. */
type PlatformFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
type MaybePromise<T> = T | Promise<T>;
type Link = TRPCLink<AppRouter>;

export type ClientOptions = {
  /** The service's base URL, such as `https://api.example.com`; calls go to `${url}/trpc`. */
  url: string;
  /** A session or API token, sent as `Authorization: Bearer`. */
  token?: string;
  /**
   * Asked before each request (a token from storage, say). When it returns a token, that token is sent and the
   * stored one (`token`, `setToken`, `signIn`, `signUp`) is not; when it returns nothing, the stored one is.
   */
  getToken?: () => MaybePromise<string | null | undefined>;
  headers?: Record<string, string> | (() => MaybePromise<Record<string, string>>);
  /** A fetch of your own (tests, proxies); the global one otherwise. Subscriptions need it to return a real `Response`. */
  fetch?: Fetch;
  /**
   * `'include'` for a browser dashboard that signs in with the session cookie while the API is on another origin
   * of the same site (`app.example.com` and `api.example.com`). Across sites the browser drops the cookie: use
   * a bearer token there.
   */
  credentials?: 'include' | 'same-origin' | 'omit';
  /**
   * Sign in by cookie only: `signIn` and `signUp` ask the service to leave the token out of the response (it sets
   * the HttpOnly session cookie), and the client keeps no token. Implies `credentials: 'include'` unless set.
   */
  cookieOnly?: boolean;
  /** Most queries in one batched request (the server accepts 50). Mutations are never batched. */
  maxBatchSize?: number;
  /**
   * Longest URL a batch of queries may make; a longer batch is split. 8000 by default: inside Node's 16 KB header
   * limit (the service's) with room for the other headers, and inside the 8 KB request line of common proxies.
   */
  maxURLLength?: number;
  /** Gives up on a request (a batch of queries, or one mutation) after this long, with a `NetworkError` (`reason: 'timeout'`). */
  timeoutMs?: number;
  /**
   * Tries a failed call again, up to this many times (0, the default, never): queries, and mutations that carry an
   * idempotency key; after a network error (connection refused or reset, timeout, 502/503/504) or a
   * `TOO_MANY_REQUESTS`/`SERVICE_UNAVAILABLE` error. Waits as `Retry-After` says, or backs off exponentially
   * (250 ms, 500 ms, 1 s… with jitter), never longer than `retryMaxDelayMs`.
   */
  retries?: number;
  /** The longest wait between tries (10 s by default): a `Retry-After` longer than this fails at once. */
  retryMaxDelayMs?: number;
  /**
   * Links of your own (logging, tracing, custom retries): an array runs before the client's own links, and a
   * function gets the client's links (retry, then transport) and returns the whole chain; its last link must
   * send the operation (the client's last one does).
   */
  links?: Link[] | ((defaults: Link[]) => Link[]);
};

/** Per-call options of `waitForTask`. */
export type WaitForTaskOptions = {
  /** Stops waiting when aborted: the promise rejects with the signal's reason (`isAbortError`). */
  signal?: AbortSignal;
  /** Stops waiting after this long: the promise rejects with a `TimeoutError` (a `DOMException`). */
  timeoutMs?: number;
};

export type Client = TRPCClient<AppRouter> & {
  /** Stores a token to send with later calls (`null` to stop). A `getToken` that returns a token wins over it. */
  setToken: (token: string | null) => void;
  /** Logs in, and stores the new session's token for later calls (unless `cookieOnly`). */
  signIn: (input: Omit<RouterInputs['auth']['login'], 'cookieOnly'>) => Promise<RouterOutputs['auth']['login']>;
  /** Creates an account, and stores its session's token for later calls like `signIn` (unless `cookieOnly`). */
  signUp: (input: Omit<RouterInputs['auth']['register'], 'cookieOnly'>) => Promise<RouterOutputs['auth']['register']>;
  /**
   * Ends the session on the server and forgets the stored token, which is forgotten even when the call fails; an
   * already-ended session (`UNAUTHORIZED`) is not an error.
   */
  signOut: () => Promise<void>;
  /**
   * Resolves with the task once it has finished (`completed`, `failed` or `cancelled`), following `tasks.onChange`;
   * when the stream cannot be used (a network error, the stream cap), polls `tasks.get` with backoff instead.
   */
  waitForTask: (id: string, options?: WaitForTaskOptions) => Promise<FinishedTask>;
  /** The rate-limit budget the service's last response stated, or `null` before any response that stated one. */
  rateLimit: () => RateLimit | null;
};

const HELPERS = new Set(['setToken', 'signIn', 'signUp', 'signOut', 'waitForTask', 'rateLimit']);

/** Mutations whose idempotency key the service stores: the client gives them one when it may retry them. */
const IDEMPOTENT_PATHS = new Set(['tasks.submit', 'posts.create']);

const DEFAULT_MAX_URL_LENGTH = 8000;

/**
 * superjson, sending every value in full: the server refuses superjson's reference metadata (which would let an
 * input contain itself). An input that uses one object twice already carries a full copy at each place.
 */
const transformer = {
  serialize: (value: unknown) => {
    const { json, meta } = superjson.serialize(value);
    if (!meta?.referentialEqualities) return meta ? { json, meta } : { json };
    const { referentialEqualities: _dropped, ...rest } = meta;
    return Object.keys(rest).length > 0 ? { json, meta: rest } : { json };
  },
  deserialize: (payload: Parameters<typeof superjson.deserialize>[0]): unknown => superjson.deserialize(payload),
};

/**
 * A request that got no answer from the API itself: it could not connect (`reason` is the system's code, such as
 * `ECONNREFUSED`), timed out (`'timeout'`), or got an HTTP response that is not the API's JSON (`'http'`, with
 * its `status`: a 431 or 502 from a proxy or from Node, say). `data` is undefined, as for any non-API error.
 */
export class NetworkError extends TRPCClientError<AppRouter> {
  /** The HTTP status, when a response came back. */
  readonly status: number | null;
  readonly reason: string;
  constructor(message: string, options: { status: number | null; reason: string; cause?: unknown }) {
    super(message, { cause: options.cause instanceof Error ? options.cause : undefined });
    // TRPCClientError's constructor sets its own prototype and name.
    Object.setPrototypeOf(this, NetworkError.prototype);
    this.name = 'NetworkError';
    this.status = options.status;
    this.reason = options.reason;
  }
}

/** Whether a call failed in transport rather than at the API (see `NetworkError`). */
export function isNetworkError(error: unknown): error is NetworkError {
  return error instanceof NetworkError;
}

/** Whether a call or `waitForTask` stopped because its `signal` was aborted. */
export function isAbortError(error: unknown): boolean {
  if (error instanceof TRPCClientError) return isAbortError(error.cause);
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'AbortError';
}

/** The system's code behind a failed fetch (undici puts it on `cause`): ECONNREFUSED, ECONNRESET… */
function systemCodeOf(error: unknown): string | undefined {
  for (let current = error, depth = 0; typeof current === 'object' && current !== null && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A tRPC response body: one envelope (`{ result }` or `{ error: { code: number } }`) or a batch of them. */
function isTrpcBody(value: unknown): boolean {
  const envelope = (item: unknown) => typeof item === 'object' && item !== null && ('result' in item || 'error' in item);
  return Array.isArray(value) ? value.every(envelope) : envelope(value);
}

function readRateLimit(headers: Headers): RateLimit | null {
  const [limit, remaining, reset] = ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'].map((name) => headers.get(name));
  if (limit === null || remaining === null || reset === null) return null;
  const values = [Number(limit), Number(remaining), Number(reset)];
  return values.every(Number.isFinite) ? { limit: values[0], remaining: values[1], resetSeconds: values[2] } : null;
}

/**
 * The fetch the query and mutation links use: adds the timeout, remembers the rate-limit headers, and turns every
 * failure that is not an answer from the API into a `NetworkError` (tRPC would otherwise read a 431's empty body as
 * JSON and fail with "Unexpected end of JSON input"). The timeout covers the body too: a body that stalls past it,
 * or a connection that breaks off in the middle of one, is a `NetworkError` like a response that never came.
 */
function transportFetch(send: PlatformFetch, timeoutMs: number | undefined, onRateLimit: (limit: RateLimit) => void): PlatformFetch {
  return async (input, init) => {
    const callerSignal = init?.signal ?? undefined;
    const timeout = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
    const signal = timeout ? (callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout) : callerSignal;
    /** What a failure to get the whole response is: the caller's abort as it is, anything else a NetworkError. */
    const failure = (error: unknown): unknown => {
      if (callerSignal?.aborted) return error;
      if (timeout?.aborted) return new NetworkError(`no complete response within ${timeoutMs} ms`, { status: null, reason: 'timeout', cause: error });
      const code = systemCodeOf(error);
      return new NetworkError(`could not reach the API${code ? ` (${code})` : ''}`, { status: null, reason: code ?? 'fetch failed', cause: error });
    };
    let response: Response;
    let text: string;
    try {
      response = await send(input, { ...init, ...(signal ? { signal } : {}) });
      text = await response.text();
    } catch (error) {
      throw failure(error);
    }
    const limit = readRateLimit(response.headers);
    if (limit) onRateLimit(limit);
    const type = response.headers.get('content-type') ?? '';
    // An error status (or no JSON): the API's own errors are tRPC envelopes; anything else came from elsewhere.
    if (!response.ok || !type.includes('json')) {
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
      if (!isTrpcBody(body)) {
        throw new NetworkError(`HTTP ${response.status} without an API response${text ? '' : ' (empty body)'}`, { status: response.status, reason: 'http' });
      }
    }
    return new Response(text, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

type RetryPolicy = { retries: number; maxDelayMs: number };

/** How long to wait before trying `op` again after `error` (try number `attempt`, from 1), or null for never. */
function retryDelay(op: Operation, error: unknown, attempt: number, policy: RetryPolicy): number | null {
  if (attempt > policy.retries) return null;
  if (op.type === 'subscription') return null;
  if (op.type === 'mutation' && typeof op.context.idempotencyKey !== 'string') return null;
  const backoff = Math.min(policy.maxDelayMs, 250 * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
  if (error instanceof NetworkError) {
    const transient = error.status === null || error.status === 502 || error.status === 503 || error.status === 504;
    return transient ? backoff : null;
  }
  if (isApiError(error, 'TOO_MANY_REQUESTS') || isApiError(error, 'SERVICE_UNAVAILABLE')) {
    const after = error.data.retryAfterSeconds;
    if (after === undefined || after === null) return backoff;
    const ms = after * 1000;
    return ms <= policy.maxDelayMs ? ms : null;
  }
  return null;
}

/** Retries queries (and mutations with an idempotency key) as `ClientOptions.retries` says; a `signal` stops the wait. */
function retryLink(policy: RetryPolicy): Link {
  return () =>
    ({ op, next }) =>
      observable((observer) => {
        let current: Unsubscribable | undefined;
        let timer: ReturnType<typeof setTimeout> | undefined;
        let stopped = false;
        const onAbort = () => {
          clearTimeout(timer);
          if (stopped) return;
          stopped = true;
          current?.unsubscribe();
          const reason: unknown = op.signal?.reason;
          observer.error(TRPCClientError.from(reason instanceof Error ? reason : new DOMException('The operation was aborted', 'AbortError')));
        };
        const attempt = (number: number) => {
          current = next(op).subscribe({
            next: (value) => observer.next(value),
            complete: () => observer.complete(),
            error: (error) => {
              if (stopped) return;
              const delay = op.signal?.aborted ? null : retryDelay(op, error, number, policy);
              if (delay === null) {
                stopped = true;
                observer.error(error);
                return;
              }
              if (number === 1) op.signal?.addEventListener('abort', onAbort, { once: true });
              timer = setTimeout(() => attempt(number + 1), delay);
            },
          });
        };
        attempt(1);
        return () => {
          stopped = true;
          clearTimeout(timer);
          op.signal?.removeEventListener('abort', onAbort);
          current?.unsubscribe();
        };
      });
}

/** Gives `tasks.submit` and `posts.create` an idempotency key of their own unless the call brought one. */
const idempotencyKeyLink: Link =
  () =>
  ({ op, next }) =>
    op.type === 'mutation' && IDEMPOTENT_PATHS.has(op.path) && op.context.idempotencyKey === undefined
      ? next({ ...op, context: { ...op.context, idempotencyKey: crypto.randomUUID() } })
      : next(op);

const FINISHED = new Set(['completed', 'failed', 'cancelled']);
const isFinished = (task: Task): task is FinishedTask => FINISHED.has(task.status);

export function createClient(options: ClientOptions): Client {
  let token: string | null = options.token ?? null;
  let lastRateLimit: RateLimit | null = null;
  const baseFetch: Fetch | undefined = options.fetch;
  const credentials = options.credentials ?? (options.cookieOnly ? 'include' : undefined);
  // A fetch of the caller's returns a Response in practice (tRPC's type only asks for the part it reads).
  const platformFetch = (baseFetch as PlatformFetch | undefined) ?? ((input, init) => globalThis.fetch(input, init));
  const send: PlatformFetch = credentials ? (input, init) => platformFetch(input, { ...init, credentials }) : platformFetch;
  const fetch = transportFetch(send, options.timeoutMs, (limit) => (lastRateLimit = limit)) as Fetch;

  const url = `${options.url.replace(/\/+$/, '')}/trpc`;
  const headers = async (): Promise<Record<string, string>> => {
    const extra = typeof options.headers === 'function' ? await options.headers() : (options.headers ?? {});
    const bearer = (await options.getToken?.()) ?? token;
    return bearer ? { ...extra, authorization: `Bearer ${bearer}` } : extra;
  };
  const retries = options.retries ?? 0;

  const transport: Link = splitLink({
    condition: (op) => op.type === 'subscription',
    // Subscriptions over server-sent events, through an EventSource that sends headers (a browser's own
    // cannot): the bearer token goes as `Authorization`, asked for again at every (re)connection; with
    // `credentials: 'include'` the session cookie goes too.
    true: httpSubscriptionLink({
      url,
      transformer,
      EventSource,
      eventSourceOptions: async () => {
        const sent = await headers();
        // Streaming needs a fetch whose Response has a body stream: yours (if given) must return one.
        const streamFetch = (baseFetch as typeof globalThis.fetch | undefined) ?? globalThis.fetch;
        return {
          withCredentials: credentials === 'include',
          fetch: (input: string | URL, init?: RequestInit) =>
            streamFetch(input, { ...init, ...(credentials ? { credentials } : {}), headers: { ...(init?.headers as Record<string, string> | undefined), ...sent } }),
        };
      },
    }),
    false: splitLink({
      condition: (op) => op.type === 'mutation',
      // One request per mutation: a batch's body is the sum of its inputs (30 posts of 45 KB would pass the
      // service's 1 MB body limit together though each is valid), and each carries its own idempotency key.
      true: httpLink({
        url,
        transformer,
        fetch,
        headers: async ({ op }) => {
          const sent = await headers();
          const key = op.context.idempotencyKey;
          return typeof key === 'string' ? { ...sent, 'idempotency-key': key } : sent;
        },
      }),
      // Queries batch, split so that no URL passes maxURLLength (Node answers a longer one with a bare 431).
      false: httpBatchLink({
        url,
        transformer,
        maxItems: options.maxBatchSize ?? 50,
        maxURLLength: options.maxURLLength ?? DEFAULT_MAX_URL_LENGTH,
        fetch,
        headers,
      }),
    }),
  });
  const own: Link[] = [...(retries > 0 ? [idempotencyKeyLink, retryLink({ retries, maxDelayMs: options.retryMaxDelayMs ?? 10_000 })] : []), transport];
  const links = typeof options.links === 'function' ? options.links(own) : [...(options.links ?? []), ...own];

  const trpc = createTRPCClient<AppRouter>({ links });

  const keep = (result: { token: string | null }) => {
    if (!options.cookieOnly && result.token !== null) token = result.token;
  };

  /** Polls `tasks.get` until the task has finished, backing off from 250 ms to 5 s. */
  const poll = async (id: string, signal: AbortSignal): Promise<FinishedTask> => {
    for (let delay = 250; ; delay = Math.min(delay * 2, 5000)) {
      const task = await trpc.tasks.get.query({ id }, { signal });
      if (isFinished(task)) return task;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, delay);
        signal.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason as Error)), { once: true });
      });
    }
  };

  const waitForTask: Client['waitForTask'] = (id, { signal: callerSignal, timeoutMs } = {}) => {
    const signals = [callerSignal, timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs)].filter((item): item is AbortSignal => item !== undefined);
    const signal = AbortSignal.any(signals);
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<FinishedTask>((resolve, reject) => {
      // Set once subscribed; a callback may in principle run before that.
      const stream: { current?: Unsubscribable } = {};
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        stream.current?.unsubscribe();
        signal.removeEventListener('abort', onAbort);
        outcome();
      };
      const onAbort = () => settle(() => reject(signal.reason as Error));
      const fallBack = () => {
        stream.current?.unsubscribe();
        poll(id, signal).then(
          (task) => settle(() => resolve(task)),
          (error: unknown) => settle(() => reject(error instanceof Error ? error : new Error(String(error)))),
        );
      };
      stream.current = trpc.tasks.onChange.subscribe(
        { taskId: id },
        {
          onData: ({ data }) => {
            if (isFinished(data)) settle(() => resolve(data));
          },
          onError: (error) => {
            // The task's own answers (NOT_FOUND, UNAUTHORIZED…) are final; the stream being unavailable is not.
            if (settled) return;
            if (isApiError(error) && error.data.code !== 'TOO_MANY_REQUESTS' && error.data.code !== 'SERVICE_UNAVAILABLE') settle(() => reject(error));
            else fallBack();
          },
          // The stream ends after the finished state; ending before it (a server shutting down) → poll.
          onComplete: () => {
            if (!settled) fallBack();
          },
        },
      );
      if (settled) stream.current.unsubscribe();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  };

  const helpers: Pick<Client, 'setToken' | 'signIn' | 'signUp' | 'signOut' | 'waitForTask' | 'rateLimit'> = {
    setToken: (next) => {
      token = next;
    },
    signIn: async (input) => {
      const result = await trpc.auth.login.mutate({ ...input, ...(options.cookieOnly ? { cookieOnly: true } : {}) });
      keep(result);
      return result;
    },
    signUp: async (input) => {
      const result = await trpc.auth.register.mutate({ ...input, ...(options.cookieOnly ? { cookieOnly: true } : {}) });
      keep(result);
      return result;
    },
    signOut: async () => {
      try {
        await trpc.auth.logout.mutate();
      } catch (error) {
        if (!isApiError(error, 'UNAUTHORIZED')) throw error;
      } finally {
        token = null;
      }
    },
    waitForTask,
    rateLimit: () => lastRateLimit,
  };
  // The tRPC client is a proxy that treats every property as a procedure path: serve ours first.
  return new Proxy(trpc, {
    get: (target, property, receiver) =>
      typeof property === 'string' && HELPERS.has(property) ? helpers[property as keyof typeof helpers] : (Reflect.get(target, property, receiver) as unknown),
  }) as Client;
}

/** A failed call, narrowed: `error.data.code`, `error.data.fieldErrors`, `error.data.requestId`… */
export type ApiError<C extends ApiErrorCode = ApiErrorCode> = TRPCClientError<AppRouter> & {
  data: ErrorShape['data'] & { code: C };
};

/** Whether `error` came from the API (with `code`, if given), narrowing it to its code and field messages. */
export function isApiError<C extends ApiErrorCode = ApiErrorCode>(error: unknown, code?: C): error is ApiError<C> {
  if (!(error instanceof TRPCClientError)) return false;
  const data = (error as TRPCClientError<AppRouter>).data;
  return data !== undefined && data !== null && (code === undefined || data.code === code);
}

/** The per-field messages of a bad-input or conflict error (empty for any other). */
export function fieldErrorsOf(error: unknown): FieldErrors {
  return isApiError(error) ? (error.data.fieldErrors ?? {}) : {};
}
