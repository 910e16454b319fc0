// HTTP clients for tests: plain JSON for /api, as curl or a Python notebook would use it; and one tRPC call
// over the wire (superjson), with full control of the headers, without the SDK.
import superjson from 'superjson';

export type RestResponse<T = unknown> = { status: number; headers: Headers; body: T };

export type RestOptions = {
  /** Sent as JSON (with Content-Type: application/json). */
  json?: unknown;
  /** Sent as is, for malformed bodies; pair it with a content-type header. */
  raw?: string;
  token?: string;
  headers?: Record<string, string>;
  query?: Record<string, string | number | boolean | (string | number)[]>;
};

export async function rest<T = unknown>(base: string, method: string, path: string, options: RestOptions = {}): Promise<RestResponse<T>> {
  const url = new URL(`${base}${path}`);
  for (const [name, value] of Object.entries(options.query ?? {})) {
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(name, String(item));
  }
  const headers: Record<string, string> = { ...(options.json !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const response = await fetch(url, { method, headers, body: options.json !== undefined ? JSON.stringify(options.json) : options.raw });
  // A stream never ends by itself: its body here is the first chunk (the server writes one at once).
  if (response.headers.get('content-type')?.startsWith('text/event-stream')) return { status: response.status, headers: response.headers, body: (await firstChunk(response)) as T };
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as T };
}

/** The first chunk of a streamed body, then the stream is cancelled (the connection closes). */
export async function firstChunk(response: Response): Promise<string> {
  const reader = response.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  const { value } = await reader.read();
  await reader.cancel();
  return new TextDecoder().decode(value);
}

export type TrpcResponse = {
  status: number;
  headers: Headers;
  body: { result?: { data: unknown }; error?: { message: string; data: { code: string; fieldErrors?: Record<string, string[]> } } };
};

/** One tRPC call over HTTP: a mutation (POST) when it has input, unless `mutation: false` makes it a query (GET). */
export async function trpcCall(base: string, path: string, options: { input?: unknown; mutation?: boolean; headers?: Record<string, string> } = {}): Promise<TrpcResponse> {
  const mutation = options.mutation ?? options.input !== undefined;
  const encoded = options.input === undefined ? undefined : JSON.stringify(superjson.serialize(options.input));
  const url = mutation || encoded === undefined ? `${base}/trpc/${path}` : `${base}/trpc/${path}?input=${encodeURIComponent(encoded)}`;
  const response = await fetch(url, {
    method: mutation ? 'POST' : 'GET',
    headers: { ...(mutation ? { 'content-type': 'application/json' } : {}), ...options.headers },
    body: mutation ? (encoded ?? '') : undefined,
  });
  const json = (await response.json()) as { result?: { data: unknown }; error?: { json: TrpcResponse['body']['error'] } };
  return {
    status: response.status,
    headers: response.headers,
    body: { result: json.result ? { data: superjson.deserialize(json.result.data as never) } : undefined, error: json.error?.json },
  };
}
