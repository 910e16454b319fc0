// Holds live responses to the served OpenAPI document: each status must be documented for its operation, and
// each body must match the schema documented for that status (ajv, JSON Schema 2020-12, formats checked).
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { RestResponse } from './http.ts';

type Schema = Record<string, unknown>;
type Parameter = { name: string; in: 'path' | 'query'; required: boolean; schema: Schema };
type Response = { $ref?: string; content?: { 'application/json'?: { schema: Schema }; 'text/event-stream'?: { schema: Schema } } };

export type DocumentedOperation = {
  id: string;
  method: string;
  /** Under /api, as the document writes it: `/posts/{id}`. */
  path: string;
  parameters: Parameter[];
  body: Schema | null;
  responses: Record<string, Response>;
};

type Document = {
  paths: Record<string, Record<string, { operationId: string; parameters?: Parameter[]; requestBody?: { content: { 'application/json': { schema: Schema } } }; responses: Record<string, Response> }>>;
  components: { schemas: Record<string, Schema> };
};

export type Contract = {
  operations: DocumentedOperation[];
  operation(id: string): DocumentedOperation;
  /** Why the response breaks the contract, or null when it keeps it. */
  violation(operation: DocumentedOperation, response: RestResponse): string | null;
};

export async function loadContract(baseUrl: string): Promise<Contract> {
  const document = (await (await fetch(`${baseUrl}/openapi.json`)).json()) as Document;
  const ajv = new Ajv2020({ strict: false, allErrors: false });
  addFormats.default(ajv);
  const validateError = ajv.compile(document.components.schemas.Error);
  const validators = new Map<Schema, ValidateFunction>();
  const validatorFor = (schema: Schema) => validators.get(schema) ?? validators.set(schema, ajv.compile(schema)).get(schema)!;

  const operations = Object.entries(document.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      id: op.operationId,
      method: method.toUpperCase(),
      path,
      parameters: op.parameters ?? [],
      body: op.requestBody?.content['application/json'].schema ?? null,
      responses: op.responses,
    })),
  );

  return {
    operations,
    operation: (id) => operations.find((operation) => operation.id === id) ?? fail(`no operation ${id}`),
    violation(operation, response) {
      const documented = operation.responses[String(response.status)];
      if (!documented) return `${operation.method} ${operation.path} answered ${response.status}, which it does not document (${Object.keys(operation.responses).join(', ')})`;
      if (documented.content?.['text/event-stream']) {
        // A stream: the status and the content type are the contract here (events are checked where they are read).
        const type = response.headers.get('content-type') ?? '';
        return type.startsWith('text/event-stream') ? null : `${operation.method} ${operation.path} ${response.status}: a stream answered as ${type}`;
      }
      const validate = documented.$ref ? validateError : validatorFor(documented.content!['application/json']!.schema);
      if (validate(response.body)) return null;
      return `${operation.method} ${operation.path} ${response.status}: body does not match its schema: ${ajv.errorsText(validate.errors)}; body: ${JSON.stringify(response.body).slice(0, 300)}`;
    },
  };
}

function fail(message: string): never {
  throw new Error(message);
}

/** The request path for an operation with these path parameter values (lone surrogates sent as U+FFFD, as a browser would). */
export function pathFor(operation: DocumentedOperation, params: Record<string, string>): string {
  return `/api${operation.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent((params[name] ?? fail(`no value for {${name}}`)).toWellFormed()))}`;
}
