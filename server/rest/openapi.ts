// The OpenAPI 3.1 document of the REST surface, generated from the same route table and zod schemas that serve it.
import { getStatusCodeFromKey } from '@trpc/server/unstable-core-do-not-import';
import { z } from 'zod';
import type { ErrorCode, Operation } from './operations.ts';

export type JsonSchema = { [key: string]: unknown };
export type OpenApiDocument = {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string; license: { name: string; identifier: string } };
  servers: { url: string; description: string }[];
  tags: { name: string; description: string }[];
  security: Record<string, string[]>[];
  paths: Record<string, Record<string, JsonSchema>>;
  components: { schemas: Record<string, JsonSchema>; responses: Record<string, JsonSchema>; securitySchemes: Record<string, JsonSchema> };
};

/** Dates leave the server as ISO 8601 strings (plain JSON); every other type converts as zod describes it. */
function toJsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const json = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    // Dates are handled below; everything else our schemas use is representable.
    unrepresentable: 'any',
    override: ({ zodSchema, jsonSchema }) => {
      const type = zodSchema._zod.def.type;
      if (type === 'date') Object.assign(jsonSchema, { type: 'string', format: 'date-time' });
      // A record over an enum has exactly those keys: say so as properties, which every tool understands.
      const keys = (jsonSchema.propertyNames as { enum?: unknown[] } | undefined)?.enum;
      const values = jsonSchema.additionalProperties;
      if (type === 'record' && keys && values !== undefined) {
        jsonSchema.properties = Object.fromEntries(keys.map((key) => [String(key), values]));
        jsonSchema.additionalProperties = false;
        delete jsonSchema.propertyNames;
      }
    },
  }) as JsonSchema;
  delete json.$schema;
  return json;
}

/** Per error code: its response's name in components and what it means here. */
const ERRORS: Record<string, { name: string; description: string }> = {
  BAD_REQUEST: { name: 'BadRequest', description: 'Invalid input: `error.fieldErrors` has the messages per field (`""` for the request as a whole).' },
  UNAUTHORIZED: { name: 'Unauthorized', description: 'No credentials, or an invalid or expired token (for login: a wrong username or password).' },
  FORBIDDEN: {
    name: 'Forbidden',
    description: 'Signed in but not allowed: an inactive account, not an admin, not the owner, or an API token where a session is required.',
  },
  NOT_FOUND: { name: 'NotFound', description: 'No such resource, or not one the caller may see.' },
  CONFLICT: { name: 'Conflict', description: 'Conflicts with the current state: a taken username or e-mail, the last admin, a task no longer queued.' },
  PAYLOAD_TOO_LARGE: { name: 'PayloadTooLarge', description: 'The body is larger than the server’s BODY_LIMIT.' },
  UNSUPPORTED_MEDIA_TYPE: { name: 'UnsupportedMediaType', description: 'A body that is not `application/json`.' },
  TOO_MANY_REQUESTS: { name: 'TooManyRequests', description: 'A rate limit is spent: retry after `Retry-After` seconds.' },
  INTERNAL_SERVER_ERROR: { name: 'InternalServerError', description: 'The server failed; quote `error.requestId` when reporting it.' },
  SERVICE_UNAVAILABLE: {
    name: 'ServiceUnavailable',
    description: 'The database is unreachable or restarting: retry after `Retry-After` seconds.',
  },
};

const errorSchema: JsonSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        // METHOD_NOT_SUPPORTED: a path called with a method it does not have (405, with Allow).
        code: { type: 'string', enum: [...Object.keys(ERRORS), 'METHOD_NOT_SUPPORTED'], description: 'Stable: branch on this, not on the message.' },
        message: { type: 'string' },
        requestId: { type: 'string', description: 'The id the server’s logs carry for this request.' },
        fieldErrors: {
          type: 'object',
          additionalProperties: { type: 'array', items: { type: 'string' } },
          description: 'Messages per input field, keyed by the field’s path (`email`, `input.numbers`).',
        },
        retryAfterSeconds: { type: 'integer', minimum: 0 },
      },
    },
  },
};

const rateLimitHeaders: JsonSchema = {
  'RateLimit-Limit': { description: 'Requests allowed in the window.', schema: { type: 'integer' } },
  'RateLimit-Remaining': { description: 'Requests left in the window.', schema: { type: 'integer' } },
  'RateLimit-Reset': { description: 'Seconds until the window resets.', schema: { type: 'integer' } },
};

function errorResponse(code: string): JsonSchema {
  const retryAfter = { 'Retry-After': { description: 'Seconds to wait.', schema: { type: 'integer' } } };
  const headers = code === 'TOO_MANY_REQUESTS' ? { ...retryAfter, ...rateLimitHeaders } : code === 'SERVICE_UNAVAILABLE' ? retryAfter : undefined;
  return { description: ERRORS[code].description, headers, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
}

const TAGS: Record<string, string> = {
  health: 'Whether the service is up.',
  auth: 'Accounts, sign-in, sessions and passwords. Sign in to get a bearer token.',
  apiTokens: 'Long-lived bearer tokens for programs; managing them takes a session token.',
  users: 'Public profiles, self-service, and user management for admins.',
  posts: 'Writing, reading and searching posts.',
  tasks: 'Background work: submit, follow, list, cancel.',
  admin: 'What internal dashboards read.',
};

const SUCCESS: Record<number, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted: the task is queued' };

function security(operation: Operation): Record<string, string[]>[] | undefined {
  if (operation.access !== 'public') return undefined; // the document's default: bearer required
  return operation.route.optionalAuth ? [{}, { bearerAuth: [] }] : [];
}

function parameters(operation: Operation, input: JsonSchema | null): JsonSchema[] {
  const properties = (input?.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((input?.required ?? []) as string[]);
  const path = operation.pathParams.map((name) => ({ name, in: 'path', required: true, schema: properties[name] }));
  const query = [...operation.query.keys()].map((name) => ({ name, in: 'query', required: required.has(name), schema: properties[name] }));
  return [...path, ...query];
}

/** The body's schema: the input without the fields the path carries. */
function requestBody(operation: Operation, input: JsonSchema): JsonSchema {
  const schema = { ...input };
  if (operation.pathParams.length > 0) {
    const properties = { ...(schema.properties as Record<string, JsonSchema>) };
    for (const name of operation.pathParams) delete properties[name];
    schema.properties = properties;
    const required = ((schema.required ?? []) as string[]).filter((name) => !operation.pathParams.includes(name));
    if (required.length > 0) schema.required = required;
    else delete schema.required;
  }
  const isRequired = Array.isArray(schema.required) || !('properties' in schema);
  return { required: isRequired, content: { 'application/json': { schema } } };
}

/**
 * A stream of server-sent events. OpenAPI 3.1 has no keyword for the schema of each event, so the media type
 * carries it as `x-event-data` (the JSON of each `data:` line), with the framing in the description.
 */
function eventStreamResponse(operation: Operation): JsonSchema {
  return {
    description:
      'Server-sent events, until the client disconnects (or the stream ends): `id:` (send it back as `Last-Event-ID` to resume) and `data:` (JSON, see `x-event-data`) per event; ' +
      'a `: ping` comment every 15 s; an `error` event with the error body if the stream fails after it started (an ended session: `UNAUTHORIZED`).',
    content: { 'text/event-stream': { schema: { type: 'string' }, 'x-event-data': toJsonSchema(operation.output, 'output') } },
  };
}

function operationObject(operation: Operation): JsonSchema {
  const { route, procedurePath } = operation;
  const input = operation.input ? toJsonSchema(operation.input, 'input') : null;
  const status = route.status ?? 200;
  const responses: Record<string, JsonSchema> = {
    [status]: operation.stream ? eventStreamResponse(operation) : { description: SUCCESS[status], content: { 'application/json': { schema: toJsonSchema(operation.output, 'output') } } },
  };
  for (const code of operation.errors) responses[getStatusCodeFromKey(code)] = { $ref: `#/components/responses/${ERRORS[code].name}` };
  const params = parameters(operation, input);
  if (operation.stream) {
    params.push({ name: 'Last-Event-ID', in: 'header', required: false, description: 'The id of the last event received: what an EventSource sends when it reconnects (the same as `lastEventId`).', schema: { type: 'string' } });
  }
  if (route.idempotent) {
    params.push({
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      description:
        'Makes a retry safe: a repeat with the same key and body within 24 hours gets the first response (nothing is created twice); the same key with another body is a 409 (`CONFLICT`), as is a repeat while the first is still running after a 10 s wait. Scoped to the user and the operation; 1 to 255 visible ASCII characters (a UUID, say).',
      schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7e]+$' },
    });
  }
  return {
    operationId: procedurePath,
    summary: route.summary,
    description: [route.description, `tRPC: \`${procedurePath}\`.`].filter(Boolean).join('\n\n'),
    tags: [procedurePath.split('.')[0]],
    security: security(operation),
    parameters: params.length > 0 ? params : undefined,
    requestBody: operation.hasBody && input ? requestBody(operation, input) : undefined,
    responses,
  };
}

/** Fails at start-up, not at the first request, if a procedure's error has no documented response. */
function assertDocumented(operations: Operation[]): void {
  for (const operation of operations) {
    const missing = operation.errors.filter((code: ErrorCode) => !ERRORS[code]);
    if (missing.length > 0) throw new Error(`${operation.procedurePath}: no documented response for ${missing.join(', ')}`);
  }
}

export function openApiDocument(operations: Operation[], version: string): OpenApiDocument {
  assertDocumented(operations);
  const paths: OpenApiDocument['paths'] = {};
  for (const operation of operations) {
    (paths[operation.route.path] ??= {})[operation.route.method.toLowerCase()] = operationObject(operation);
  }
  const used = new Set(operations.flatMap((operation) => operation.errors));
  const responses = Object.fromEntries([...used].map((code) => [ERRORS[code].name, errorResponse(code)]));
  return {
    openapi: '3.1.0',
    info: {
      title: 'ai-backend-service REST API',
      version,
      description: [
        'Plain JSON over HTTP for clients that do not speak tRPC; the same procedures as `/trpc`, with the same validation, errors and rate limits.',
        'Sign in with `POST /api/auth/login` (or create an API token) and send the token as `Authorization: Bearer <token>`.',
        'Dates are ISO 8601 strings. Errors are `{ "error": { "code", "message", "requestId", "fieldErrors"? } }` with the matching HTTP status.',
        'Beyond the operations listed: an unknown path under `/api` is a 404 (`NOT_FOUND`), and a known path called with a method it does not have is a 405 (`METHOD_NOT_SUPPORTED`) with an `Allow` header; `OPTIONS` answers 204 with `Allow`.',
      ].join('\n\n'),
      license: { name: 'UNLICENSED', identifier: 'LicenseRef-Proprietary' },
    },
    servers: [{ url: '/api', description: 'This server' }],
    tags: Object.entries(TAGS).map(([name, description]) => ({ name, description })),
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      schemas: { Error: errorSchema },
      responses,
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'A session token from `POST /api/auth/login` or an API token from `POST /api/api-tokens`.' },
      },
    },
  };
}
