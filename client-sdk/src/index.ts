// @ai-backend-service/client: a typed tRPC client for ai-backend-service, with token handling and error helpers.
// tRPC's declarations name `Disposable` and `AsyncDisposable` (TypeScript's esnext.disposable library); kept in the
// shipped declarations, so a browser project with lib ["dom", "es2022"] type-checks without adding it.
/// <reference lib="esnext.disposable" preserve="true" />
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink, TRPCClientError, type HTTPBatchLinkOptions, type TRPCClient } from '@trpc/client';
import { EventSource } from 'eventsource';
import type { inferRouterInputs, inferRouterOutputs, inferTRPCClientTypes } from '@trpc/server';
import superjson from 'superjson';
import type { AppRouter, ErrorShape } from './app-router.js';

export type { AppRouter, ErrorShape };
/** `RouterInputs['posts']['create']`: what a procedure takes. */
export type RouterInputs = inferRouterInputs<AppRouter>;
/** `RouterOutputs['tasks']['get']`: what a procedure returns. */
export type RouterOutputs = inferRouterOutputs<AppRouter>;
/** The `code` of an error: `BAD_REQUEST`, `UNAUTHORIZED`, `FORBIDDEN`, `NOT_FOUND`, `CONFLICT`, `TOO_MANY_REQUESTS`… */
export type ApiErrorCode = ErrorShape['data']['code'];
/** Messages per input field, keyed by the field's path (`email`, `input.text`). */
export type FieldErrors = Record<string, string[]>;

type Fetch = NonNullable<HTTPBatchLinkOptions<inferTRPCClientTypes<AppRouter>>['fetch']>;
type MaybePromise<T> = T | Promise<T>;

export type ClientOptions = {
  /** The service's base URL, such as `https://api.example.com`; calls go to `${url}/trpc`. */
  url: string;
  /** A session or API token, sent as `Authorization: Bearer`. */
  token?: string;
  /** Asked before each request (a token from storage, say); wins over `token` when it returns one. */
  getToken?: () => MaybePromise<string | null | undefined>;
  headers?: Record<string, string> | (() => MaybePromise<Record<string, string>>);
  /** A fetch of your own (tests, proxies); the global one otherwise. Subscriptions need it to return a real `Response`. */
  fetch?: Fetch;
  /**
   * `'include'` for browser dashboards on another origin that sign in with the session cookie (calls and
   * subscriptions alike).
   */
  credentials?: 'include' | 'same-origin' | 'omit';
  /** Most calls in one batched request (the server accepts 50). */
  maxBatchSize?: number;
};

export type Client = TRPCClient<AppRouter> & {
  /** Sends this token with later calls (`null` to stop). */
  setToken: (token: string | null) => void;
  /** Logs in, and sends the new session's token with later calls. */
  signIn: (input: RouterInputs['auth']['login']) => Promise<RouterOutputs['auth']['login']>;
  /** Ends the session on the server and stops sending its token. */
  signOut: () => Promise<void>;
};

const HELPERS = new Set(['setToken', 'signIn', 'signOut']);

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

export function createClient(options: ClientOptions): Client {
  let token: string | null = options.token ?? null;
  const baseFetch: Fetch | undefined = options.fetch;
  const credentials = options.credentials;
  const fetchWithCredentials: Fetch | undefined = credentials
    ? (url, init) => (baseFetch ?? globalThis.fetch)(url, { ...init, credentials })
    : baseFetch;

  const url = `${options.url.replace(/\/+$/, '')}/trpc`;
  const headers = async (): Promise<Record<string, string>> => {
    const extra = typeof options.headers === 'function' ? await options.headers() : (options.headers ?? {});
    const bearer = (await options.getToken?.()) ?? token;
    return bearer ? { ...extra, authorization: `Bearer ${bearer}` } : extra;
  };

  const trpc = createTRPCClient<AppRouter>({
    links: [
      splitLink({
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
            const send = (baseFetch as typeof globalThis.fetch | undefined) ?? globalThis.fetch;
            return {
              withCredentials: credentials === 'include',
              fetch: (input: string | URL, init?: RequestInit) =>
                send(input, { ...init, ...(credentials ? { credentials } : {}), headers: { ...(init?.headers as Record<string, string> | undefined), ...sent } }),
            };
          },
        }),
        false: httpBatchLink({
          url,
          transformer,
          maxItems: options.maxBatchSize ?? 50,
          ...(fetchWithCredentials ? { fetch: fetchWithCredentials } : {}),
          headers,
        }),
      }),
    ],
  });

  const helpers: Pick<Client, 'setToken' | 'signIn' | 'signOut'> = {
    setToken: (next) => {
      token = next;
    },
    signIn: async (input) => {
      const result = await trpc.auth.login.mutate(input);
      token = result.token;
      return result;
    },
    signOut: async () => {
      await trpc.auth.logout.mutate();
      token = null;
    },
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
