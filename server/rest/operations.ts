// The REST surface's route table, built once from the procedures' `rest` meta: what server/rest serves under
// /api and what /openapi.json describes, so the two cannot disagree.
import type { AnyTRPCProcedure, AnyTRPCRouter, TRPCError } from '@trpc/server';
import { getStatusCodeFromKey } from '@trpc/server/unstable-core-do-not-import';
import type { z } from 'zod';
import { eventSchemaOf } from '../trpc/event-stream.ts';
import type { Access, Meta, RestMethod, RestRoute } from '../trpc/meta.ts';

export type ErrorCode = TRPCError['code'];

/** How a query-string value becomes the type its field expects; anything else stays a string. */
export type QueryKind = 'string' | 'number' | 'boolean';

export type Operation = {
  /** The tRPC path, `posts.get`: also the operation's id in the document. */
  procedurePath: string;
  procedure: AnyTRPCProcedure;
  route: RestRoute;
  access: Access;
  /** `/posts/{id}` → ['posts', '{id}'] */
  segments: string[];
  pathParams: string[];
  /** null when the procedure takes no input. */
  input: z.ZodType | null;
  /** The response body; for a stream, one event's data. */
  output: z.ZodType;
  /** A subscription: served as server-sent events (`text/event-stream`), one event per item. */
  stream: boolean;
  /** GET: the input's other fields, read from the query string. */
  query: Map<string, QueryKind>;
  /** POST, PUT, PATCH and DELETE with fields beyond the path: a JSON object body. */
  hasBody: boolean;
  /** Every error the operation can answer with, in status order. */
  errors: ErrorCode[];
};

/** What any operation can get: bad input or host (400), a spent rate limit (429), our own failure (500, 503). */
export const ALWAYS: ErrorCode[] = ['BAD_REQUEST', 'TOO_MANY_REQUESTS', 'INTERNAL_SERVER_ERROR', 'SERVICE_UNAVAILABLE'];
/** What an operation with a JSON body can get besides: too large (413), not JSON (415). */
export const WITH_BODY: ErrorCode[] = ['PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'];
/** Missing or dead credentials (401); inactive account, wrong role or an API token where a session is needed (403). */
const SIGNED_IN: ErrorCode[] = ['UNAUTHORIZED', 'FORBIDDEN'];

type Def = { type: string; innerType?: z.ZodType; in?: z.ZodType };
const defOf = (schema: z.ZodType): Def => schema._zod.def;

/** Looks through optional, nullable, default and the input side of pipes to the type a value must have. */
function baseOf(schema: z.ZodType): z.ZodType {
  const def = defOf(schema);
  if (def.innerType) return baseOf(def.innerType);
  if (def.type === 'pipe' && def.in) return baseOf(def.in);
  return schema;
}

function queryKind(schema: z.ZodType): QueryKind | null {
  const type = defOf(baseOf(schema)).type;
  if (type === 'string' || type === 'enum' || type === 'literal') return 'string';
  if (type === 'number') return 'number';
  if (type === 'boolean') return 'boolean';
  return null;
}

const isVoid = (schema: z.ZodType | undefined): boolean => !schema || ['void', 'undefined'].includes(defOf(schema).type);

/** The fields of an object input; null for other inputs (a discriminated union, say). */
function shapeOf(schema: z.ZodType): Record<string, z.ZodType> | null {
  const base = baseOf(schema);
  return defOf(base).type === 'object' ? (base as z.ZodObject).shape : null;
}

const STATUS_ORDER = (a: ErrorCode, b: ErrorCode) => getStatusCodeFromKey(a) - getStatusCodeFromKey(b);

function operationOf(procedurePath: string, procedure: AnyTRPCProcedure): Operation | null {
  const meta = procedure._def.meta as Meta | undefined;
  const route = meta?.rest;
  if (!route) return null;
  const fail = (message: string): never => {
    throw new Error(`REST route ${route.method} ${route.path} (${procedurePath}): ${message}`);
  };
  const inputs = procedure._def.inputs as z.ZodType[];
  if (inputs.length > 1) fail('takes more than one input parser');
  const input = isVoid(inputs[0]) ? null : inputs[0];
  const stream = procedure._def.type === 'subscription';
  const declared = (procedure._def as { output?: z.ZodType }).output;
  if (!declared) fail('needs an .output() schema: the document describes every response');
  const output = stream ? (eventSchemaOf(declared!) ?? fail('a subscription’s output must be eventStream(…)')) : declared!;

  // A GET must not change state: it skips the CSRF check, and caches and prefetchers repeat it.
  if ((route.method === 'GET') !== (procedure._def.type === 'query' || stream)) fail('GET is for queries and subscriptions, and they are served by GET only');
  const segments = route.path.slice(1).split('/');
  const pathParams = segments.filter((segment) => segment.startsWith('{')).map((segment) => segment.slice(1, -1));
  const shape = input ? shapeOf(input) : null;
  for (const name of pathParams) {
    const field = shape?.[name];
    if (!field) fail(`path parameter {${name}} is not a field of the input`);
    else if (queryKind(field) !== 'string') fail(`path parameter {${name}} must be a string field`);
  }
  const otherFields = shape ? Object.keys(shape).filter((name) => !pathParams.includes(name)) : [];

  const query = new Map<string, QueryKind>();
  let hasBody = false;
  if (route.method === 'GET') {
    if (input && !shape) fail('a GET input must be an object of scalar fields');
    for (const name of otherFields) query.set(name, queryKind(shape![name]) ?? fail(`query parameter ${name} must be a string, number, boolean or enum`));
  } else {
    hasBody = input !== null && (shape === null || otherFields.length > 0);
  }

  const access = meta.access ?? 'public';
  const errors = new Set<ErrorCode>([...ALWAYS, ...(hasBody ? WITH_BODY : []), ...(access === 'public' ? [] : SIGNED_IN), ...(route.errors ?? [])]);
  return { procedurePath, procedure, route, access, segments, pathParams, input, output, stream, query, hasBody, errors: [...errors].sort(STATUS_ORDER) };
}

/** Literal segments before parameters, position by position: `/users/me` wins over `/users/{id}`. */
export function bySpecificity(a: Operation, b: Operation): number {
  for (let i = 0; i < Math.min(a.segments.length, b.segments.length); i++) {
    const aParam = a.segments[i].startsWith('{');
    const bParam = b.segments[i].startsWith('{');
    if (aParam !== bParam) return aParam ? 1 : -1;
  }
  return a.segments.length - b.segments.length;
}

/**
 * Every procedure with a `rest` route, in the router's order; throws at start-up on a route that cannot work or
 * is declared twice.
 */
export function restOperations(router: AnyTRPCRouter): Operation[] {
  const procedures = router._def.procedures as Record<string, AnyTRPCProcedure>;
  const operations = Object.entries(procedures).flatMap(([path, procedure]) => operationOf(path, procedure) ?? []);
  const seen = new Set<string>();
  for (const { route } of operations) {
    const key = `${route.method} ${route.path.replace(/\{[^}]+\}/g, '{}')}`;
    if (seen.has(key)) throw new Error(`REST route ${route.method} ${route.path} is declared twice`);
    seen.add(key);
  }
  return operations;
}

export type Match = { operation: Operation; params: Record<string, string> };

const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** The raw path segments a pattern captures, or null when the path is not the pattern's. */
function capture(pattern: string[], segments: string[]): Record<string, string> | null {
  if (pattern.length !== segments.length) return null;
  const raw: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    if (!pattern[i].startsWith('{')) {
      if (pattern[i] !== segments[i]) return null;
    } else if (segments[i] === '') return null;
    else raw[pattern[i].slice(1, -1)] = segments[i];
  }
  return raw;
}

/**
 * The operation for a method and a path below /api, split into segments still URL-encoded (`operations` sorted
 * by specificity); or, when only the method is wrong, the methods the path allows. Parameters are decoded once
 * the whole path has matched: a malformed escape there throws URIError.
 */
export function matchOperation(operations: Operation[], method: string, segments: string[]): Match | { allow: string[] } | null {
  const allow: RestMethod[] = [];
  for (const operation of operations) {
    const raw = capture(operation.segments, segments);
    if (!raw) continue;
    if (operation.route.method === method || (method === 'HEAD' && operation.route.method === 'GET')) {
      const params = Object.fromEntries(Object.entries(raw).map(([name, value]) => [name, decodeURIComponent(value)]));
      return { operation, params };
    }
    if (!allow.includes(operation.route.method)) allow.push(operation.route.method);
  }
  if (allow.length === 0) return null;
  // GET answers HEAD too; OPTIONS is answered for every path that exists.
  return { allow: [...METHOD_ORDER.filter((known) => allow.includes(known === 'HEAD' ? 'GET' : known)), 'OPTIONS'] };
}
