// Fuzzing, on both dialects, against a live server: requests generated from /openapi.json (fast-check) with
// malformed, hostile and half-valid parameters, bodies, content types and credentials. Every answer must be a
// status the operation documents with a body matching its schema, and never a 5xx. The same procedures over /trpc,
// in superjson envelopes with metadata no client of ours sends (reference equalities, unknown types) and text
// with lone surrogates: refused as bad input, never a hang, a 5xx or a success.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AnyTRPCProcedure } from '@trpc/server';
import superjson from 'superjson';
import { appRouter } from '../routers/index.ts';
import { createUser, signIn } from '../testing/factories.ts';
import { dialects, useTestServer } from '../testing/harness.ts';
import { loadContract, pathFor, type DocumentedOperation } from '../testing/openapi-contract.ts';
import { firstChunk, rest } from '../testing/http.ts';

/** Requests per dialect; override with FUZZ_RUNS for a longer session. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 1500);
const BODY_LIMIT = 16 * 1024;

type Schema = { type?: string | string[]; enum?: unknown[]; const?: unknown; minLength?: number; maxLength?: number; pattern?: string; minimum?: number; maximum?: number; items?: Schema; minItems?: number; maxItems?: number; properties?: Record<string, Schema>; required?: string[]; oneOf?: Schema[]; anyOf?: Schema[] };

const hostile = fc.constantFrom('', ' ', 'true', 'false', 'null', 'undefined', 'NaN', '-1', '0', '1.5', '1e400', '-0', '%', '%00', '\u0000', '\uFFFF', '\uD800', '😀', 'a'.repeat(500), '<script>alert(1)</script>', "' OR 1=1 --", '../../etc/passwd', '{}', '[]');

/** Text of every kind: short strings, full Unicode, numbers as text, and known troublemakers. */
const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.integer().map(String), fc.double().map(String), hostile);

/** A value the schema accepts (mostly): generated requests then reach past validation into the services. */
function valid(schema: Schema): fc.Arbitrary<unknown> {
  const variants = schema.oneOf ?? schema.anyOf;
  if (variants) return fc.oneof(...variants.map(valid));
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.includes('null') && types.length > 1) return fc.option(valid({ ...schema, type: types.find((type) => type !== 'null') }), { nil: null });
  switch (types[0]) {
    case 'string':
      return schema.pattern
        ? fc.stringMatching(new RegExp(schema.pattern)).filter((value) => value.length >= (schema.minLength ?? 0) && value.length <= (schema.maxLength ?? Infinity))
        : fc.string({ minLength: schema.minLength ?? 0, maxLength: Math.min(schema.maxLength ?? 60, 60) });
    case 'integer':
      return fc.integer({ min: Math.max(schema.minimum ?? -1e6, -1e6), max: Math.min(schema.maximum ?? 1e6, 1e6) });
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 });
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(valid(schema.items ?? {}), { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 5, 5) });
    case 'object':
      return objectOf(schema, valid);
    default:
      return fc.jsonValue({ maxDepth: 1 });
  }
}

/** An object with the schema's fields, each present or not, each valid or anything at all. */
function objectOf(schema: Schema, field: (schema: Schema) => fc.Arbitrary<unknown>): fc.Arbitrary<Record<string, unknown>> {
  const fields = Object.fromEntries(Object.entries(schema.properties ?? {}).map(([name, property]) => [name, field(property)]));
  return fc.record(fields, { requiredKeys: [] });
}

/** Valid, wrong-typed, or any JSON: mostly plausible, sometimes absurd. */
const anyField = (schema: Schema): fc.Arbitrary<unknown> => fc.oneof({ weight: 3, arbitrary: valid(schema) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) }, { weight: 1, arbitrary: text });

type Body = { kind: 'none' } | { kind: 'json'; value: unknown } | { kind: 'raw'; text: string; type: string };

function bodyFor(operation: DocumentedOperation): fc.Arbitrary<Body> {
  if (operation.method === 'GET' || operation.method === 'HEAD') return fc.constant({ kind: 'none' });
  const junk = fc.oneof(
    fc.record({ kind: fc.constant('json' as const), value: fc.jsonValue({ maxDepth: 3 }) }),
    fc.record({ kind: fc.constant('raw' as const), text: fc.string({ maxLength: 60 }), type: fc.constant('application/json') }),
    fc.record({
      kind: fc.constant('raw' as const),
      text: fc.json({ maxDepth: 2 }),
      type: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', 'application/json; charset=utf-16', 'application/json; charset=nope', 'application/jsonx'),
    }),
    fc.integer({ min: BODY_LIMIT + 1, max: BODY_LIMIT * 3 }).map((size): Body => ({ kind: 'raw', text: JSON.stringify({ title: 'x'.repeat(size) }), type: 'application/json' })),
    // Lone surrogates in a key; a superjson envelope, which plain JSON takes as two unknown fields.
    fc.constantFrom<Body>(
      { kind: 'json', value: { ['k\ud800']: 'v', title: 't' } },
      { kind: 'json', value: { json: { title: 't', a: {} }, meta: { referentialEqualities: { a: ['a.b'] } } } },
    ),
    // Nesting deep enough to break anything that recurses over input, small enough for the body limit.
    fc.integer({ min: 1000, max: BODY_LIMIT / 2 - 100 }).map((depth): Body => ({ kind: 'raw', text: `{"title":${'['.repeat(depth)}${']'.repeat(depth)}}`, type: 'application/json' })),
  );
  if (!operation.body) return fc.oneof({ weight: 3, arbitrary: fc.constant({ kind: 'none' as const }) }, { weight: 1, arbitrary: junk });
  const schema = operation.body as Schema;
  const shaped = (schema.oneOf ?? schema.anyOf ?? [schema]).map((variant) => objectOf(variant, anyField));
  return fc.oneof(
    { weight: 4, arbitrary: fc.oneof(...shaped).map((value): Body => ({ kind: 'json', value })) },
    { weight: 2, arbitrary: valid(schema).map((value): Body => ({ kind: 'json', value })) },
    { weight: 3, arbitrary: junk },
    { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
  );
}

function queryFor(operation: DocumentedOperation): fc.Arbitrary<Record<string, string | string[]>> {
  const known = Object.fromEntries(
    operation.parameters
      .filter((parameter) => parameter.in === 'query')
      .map((parameter) => [
        parameter.name,
        fc.oneof(
          { weight: 3, arbitrary: valid(parameter.schema as Schema).map(String) },
          { weight: 3, arbitrary: text },
          { weight: 1, arbitrary: fc.array(text, { minLength: 2, maxLength: 3 }) },
        ),
      ]),
  );
  return fc.tuple(fc.record(known, { requiredKeys: [] }), fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), text, { maxKeys: 2 })).map(([ours, extra]) => {
    const query: Record<string, string | string[]> = { ...extra };
    for (const [name, value] of Object.entries(ours)) if (value !== undefined) query[name] = value;
    return query;
  });
}

describe.each(dialects)('fuzzing the REST API on %s', (dialect) => {
  const app = useTestServer(dialect, { env: { BODY_LIMIT: String(BODY_LIMIT) } });

  // A hang guard: 1500 requests took past 240 s on a 2-core machine at a load average of 30.
  it(`answers ${RUNS} generated requests with documented statuses and bodies, and no 5xx`, { timeout: 600_000 }, async () => {
    const contract = await loadContract(app.url);
    // API tokens: generated requests cannot end the sessions or tokens they run on (that takes a session).
    const apiToken = async (role: 'user' | 'admin') => {
      const { token } = await signIn(app.deps, await createUser(app.deps, { role }));
      return (await rest<{ token: string }>(app.url, 'POST', '/api/api-tokens', { token, json: { name: `fuzz ${role}` } })).body.token;
    };
    const userToken = await apiToken('user');
    const adminToken = await apiToken('admin');
    const victim = await createUser(app.deps);
    const post = await rest<{ id: string }>(app.url, 'POST', '/api/posts', { token: userToken, json: { title: 'fuzz target', body: 'b', published: true } });
    const task = await rest<{ id: string }>(app.url, 'POST', '/api/tasks', { token: userToken, json: { type: 'math.sum', input: { numbers: [1] } } });
    const knownIds = [victim.id, post.body.id, task.body.id];

    // A path segment is never empty, "." or "..": those would address another URL, not the operation.
    const pathValue = fc.oneof(text.filter((value) => value !== '' && value !== '.' && value !== '..'), fc.constantFrom(...knownIds));
    const request = fc.constantFrom(...contract.operations).chain((operation) =>
      fc.record({
        operation: fc.constant(operation),
        authorization: fc.oneof(
          { weight: 2, arbitrary: fc.constantFrom(undefined, 'Bearer not-a-real-token', 'Basic dXNlcjpwYXNz', 'Bearer') },
          { weight: 3, arbitrary: fc.constantFrom(`Bearer ${userToken}`, `Bearer ${adminToken}`) },
        ),
        params: fc.record(Object.fromEntries(operation.parameters.filter((parameter) => parameter.in === 'path').map((parameter) => [parameter.name, pathValue]))),
        query: queryFor(operation),
        body: bodyFor(operation),
      }),
    );

    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async ({ operation, authorization, params, query, body }) => {
        const headers: Record<string, string> = authorization ? { authorization } : {};
        if (body.kind === 'raw') headers['content-type'] = body.type;
        const response = await rest(app.url, operation.method, pathFor(operation, params), {
          headers,
          query,
          json: body.kind === 'json' ? body.value : undefined,
          raw: body.kind === 'raw' ? body.text : undefined,
        });
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        expect(contract.violation(operation, response)).toBeNull();
        expect(response.status).toBeLessThan(500);
      }),
      { numRuns: RUNS },
    );

    const counts = [...statuses.entries()].sort(([a], [b]) => a - b);
    const total = counts.reduce((sum, [, count]) => sum + count, 0);
    console.log(`REST fuzz on ${dialect}: ${total} requests, ${contract.operations.length} operations; by status: ${counts.map(([status, count]) => `${status}×${count}`).join(', ')}`);
    expect(counts.filter(([status]) => status >= 500)).toEqual([]);
    // The generator reaches past validation, not only into it.
    expect(counts.filter(([status]) => status < 300).length).toBeGreaterThan(0);
  });
});

/** Text no field may hold: lone UTF-16 surrogates, alone or around ordinary text. */
const loneSurrogate = fc.constantFrom('\ud800', '\udfff', 'a\udc00b', '\udbff\udbff', 'ok \ud83d');

const superjsonTypes = fc.constantFrom<unknown>('undefined', 'number', 'Date', 'bigint', 'regexp', 'set', 'map', 'Error', 'URL', 'nonsense', ['class', 'Foo'], ['custom', 'decimal.js'], ['symbol', 'S'], ['typed-array', 'Uint8Array']);

type Hostility = 'references' | 'types' | 'surrogate value' | 'surrogate key' | 'none';
type Hostile = { envelope: unknown; hostility: Hostility };

/** Whether superjson serializes `input` at all (its pollution guard refuses keys such as `prototype`). */
function serializable(input: Record<string, unknown>): boolean {
  try {
    superjson.serialize(input);
    return true;
  } catch {
    return false;
  }
}

/**
 * A superjson envelope for `input`, made hostile one way: reference equalities (self-references and others, in both
 * of superjson's forms), type annotations of every kind, or a lone surrogate in a value or a key.
 */
function envelopeFor(input: Record<string, unknown>): fc.Arbitrary<Hostile> {
  const keys = Object.keys(input);
  const path = fc.oneof(fc.constantFrom('', 'a', 'a.b', 'a.b.c', '0', ...keys, ...keys.map((key) => `${key}.x`)), fc.string({ maxLength: 8 }));
  const serialized = superjson.serialize(input);
  const base = { json: serialized.json as Record<string, unknown>, meta: serialized.meta };
  return fc.oneof(
    fc.constant({ envelope: base, hostility: 'none' }),
    fc
      .oneof(fc.dictionary(path, fc.array(path, { minLength: 1, maxLength: 3 }), { minKeys: 1, maxKeys: 3 }), fc.array(fc.array(path, { minLength: 1, maxLength: 2 }), { minLength: 1, maxLength: 2 }).map((root) => [root]))
        .map((referentialEqualities): Hostile => ({ envelope: { json: { ...base.json, a: {} }, meta: { ...base.meta, referentialEqualities } }, hostility: 'references' })),
    fc
      .tuple(path, superjsonTypes)
      .filter(([, type]) => type !== 'undefined' && type !== 'number' && type !== 'Date')
      .map(([at, type]): Hostile => ({ envelope: { json: base.json, meta: { ...base.meta, values: { [at || 'x']: [type] } } }, hostility: 'types' })),
    fc
      .tuple(fc.constantFrom('x', ...keys), loneSurrogate)
      .map(([key, text]): Hostile => ({ envelope: { json: { ...base.json, [key]: text } }, hostility: 'surrogate value' })),
    loneSurrogate.map((text): Hostile => ({ envelope: { json: { ...base.json, [`k${text}`]: 1 } }, hostility: 'surrogate key' })),
  );
}

/** A stream read up to its first `serialized-error` event (or its end), then closed. */
async function untilError(response: Response): Promise<string> {
  const reader = response.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    if (/event: serialized-error\ndata: .*\n/.test(text)) break;
  }
  await reader.cancel();
  return text;
}

const procedures = appRouter._def.procedures as unknown as Record<string, AnyTRPCProcedure>;
/** Whether the procedure reads its input at all (a procedure without `.input()` never decodes it). */
const takesInput = (path: string) => (procedures[path]._def as { inputs: unknown[] }).inputs.length > 0;

describe.each(dialects)('fuzzing /trpc on %s', (dialect) => {
  const app = useTestServer(dialect, { env: { BODY_LIMIT: String(BODY_LIMIT) } });
  const TRPC_RUNS = Math.ceil(RUNS / 3);

  it(`answers ${TRPC_RUNS} hostile superjson calls, batched or not, with 4xx and no success, and keeps serving`, { timeout: 600_000 }, async () => {
    const contract = await loadContract(app.url);
    const { token } = await signIn(app.deps, await createUser(app.deps));
    const call = fc.constantFrom(...contract.operations).chain((operation) => {
      const fields: Record<string, fc.Arbitrary<unknown>> = {};
      for (const parameter of operation.parameters) fields[parameter.name] = valid(parameter.schema);
      const body = operation.body ? (operation.body as Schema) : null;
      for (const [name, property] of Object.entries((body?.oneOf?.[0] ?? body)?.properties ?? {})) fields[name] = anyField(property);
      // superjson itself refuses to serialize some keys (`prototype` and the like, its pollution guard): such an
      // input has no envelope to make hostile, and is left out.
      return fc.record(fields, { requiredKeys: [] }).filter(serializable).chain((input) =>
        fc.record({
          operation: fc.constant(operation),
          hostile: envelopeFor(input),
          batch: fc.integer({ min: 0, max: 3 }),
          signedIn: fc.boolean(),
        }),
      );
    });

    const statuses = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(call, async ({ operation, hostile, batch, signedIn }) => {
        const path = operation.id;
        const query = operation.method === 'GET';
        const headers: Record<string, string> = signedIn ? { authorization: `Bearer ${token}` } : {};
        const paths = batch === 0 ? path : Array(batch).fill(path).join(',');
        const payload = batch === 0 ? hostile.envelope : Object.fromEntries(Array.from({ length: batch }, (_, index) => [index, hostile.envelope]));
        const encoded = JSON.stringify(payload);
        const suffix = batch === 0 ? '' : '?batch=1';
        const response = query
          ? await fetch(`${app.url}/trpc/${paths}${suffix ? `${suffix}&` : '?'}input=${encodeURIComponent(encoded)}`, { headers, signal: AbortSignal.timeout(30_000) })
          : await fetch(`${app.url}/trpc/${paths}${suffix}`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: encoded, signal: AbortSignal.timeout(30_000) });
        const refused = hostile.hostility !== 'none' && takesInput(path);
        // A subscription answers over server-sent events: 200, then its refusal as a `serialized-error` event
        // (read up to it); one that was accepted streams until the client leaves (its first chunk is its answer).
        const streaming = response.headers.get('content-type')?.startsWith('text/event-stream') ?? false;
        if (streaming && response.status === 200) {
          const text = refused ? await untilError(response) : await firstChunk(response);
          const status = refused ? (JSON.parse(/event: serialized-error\ndata: (.*)\n/.exec(text)?.[1] ?? '{}') as { json?: { data?: { httpStatus?: number } } }).json?.data?.httpStatus : 200;
          statuses.set(`${hostile.hostility} ${status}`, (statuses.get(`${hostile.hostility} ${status}`) ?? 0) + 1);
          expect(status, `${path} ${hostile.hostility}: ${text.slice(0, 300)}`).toBeLessThan(500);
          if (refused) expect(status, `${path} ${hostile.hostility}: ${text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
          return;
        }
        const text = await response.text();
        statuses.set(`${hostile.hostility} ${response.status}`, (statuses.get(`${hostile.hostility} ${response.status}`) ?? 0) + 1);
        expect(response.status, text.slice(0, 300)).toBeLessThan(500);
        if (refused) {
          // Refused, whatever the procedure: as bad input, or before the input is read (no credentials, a limit).
          expect(response.status, `${path} ${hostile.hostility}: ${text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
          // (A subscription in a batch is refused as such, before its input is read.)
          const batchedStream = batch > 0 && procedures[path]._def.type === 'subscription';
          if (hostile.hostility === 'references' && response.status === 400) expect(text).toContain(batchedStream ? 'subscription' : 'referentialEqualities');
        }
      }),
      { numRuns: TRPC_RUNS },
    );

    console.log(`tRPC fuzz on ${dialect}: ${[...statuses.entries()].sort().map(([key, count]) => `${key}×${count}`).join(', ')}`);
    // Every kind of hostility was tried and refused as bad input somewhere.
    for (const hostility of ['references', 'types', 'surrogate value', 'surrogate key']) expect(statuses.get(`${hostility} 400`) ?? 0).toBeGreaterThan(0);
    expect((await fetch(`${app.url}/health/live`, { signal: AbortSignal.timeout(10_000) })).status).toBe(200);
  });
});
