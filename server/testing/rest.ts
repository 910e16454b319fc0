// A plain-JSON client for /api, as curl or a Python notebook would use it: no SDK, no superjson.

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
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as T };
}

