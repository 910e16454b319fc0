// The OpenAPI document: valid under a strict validator, clean under the documented lint rules, complete (every
// procedure has a route), and faithful to the zod schemas. The route table refuses routes that cannot work.
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { lintFromString, loadConfig } from '@redocly/openapi-core';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { appRouter } from '../routers/index.ts';
import { publicProcedure, router } from '../trpc/init.ts';
import { openApiDocument, type JsonSchema } from './openapi.ts';
import { restOperations } from './operations.ts';

const document = openApiDocument(restOperations(appRouter), '1.2.3');
/** As a client receives it: undefined fields dropped. */
const json = JSON.parse(JSON.stringify(document)) as typeof document;

type Op = { parameters?: { name: string; in: string; required: boolean; schema: JsonSchema }[]; requestBody?: { content: Record<string, { schema: JsonSchema }> }; responses: Record<string, { content?: Record<string, { schema: JsonSchema }> }>; security?: unknown[] };
const operation = (method: string, path: string) => json.paths[path][method] as unknown as Op;
const bodyOf = (op: Op) => op.requestBody!.content['application/json'].schema as { properties: Record<string, JsonSchema>; required?: string[] };
const okOf = (op: Op, status = '200') => op.responses[status].content!['application/json'].schema as { properties: Record<string, JsonSchema> };

describe('the OpenAPI document', () => {
  it('validates strictly as OpenAPI 3.1', async () => {
    await expect(SwaggerParser.validate(structuredClone(json) as never)).resolves.toBeTruthy();
    expect(json.openapi).toBe('3.1.0');
  });

  it('lints clean with the rules in redocly.yaml (recommended-strict)', async () => {
    const config = await loadConfig({ configPath: join(import.meta.dirname, '../../redocly.yaml') });
    const problems = await lintFromString({ source: JSON.stringify(json), absoluteRef: 'openapi.json', config });
    expect(problems.map((problem) => `${problem.ruleId}: ${problem.message} at ${problem.location[0]?.pointer}`)).toEqual([]);
  });

  it('serves every procedure of the router under /api', () => {
    const procedures = Object.keys(appRouter._def.procedures).sort();
    const documented = Object.values(json.paths)
      .flatMap((methods) => Object.values(methods).map((op) => (op as { operationId: string }).operationId))
      .sort();
    expect(documented).toEqual(procedures);
  });

  it('carries the schemas’ constraints, enums and date formats over', () => {
    const register = bodyOf(operation('post', '/auth/register'));
    expect(register.properties.username).toMatchObject({ type: 'string', minLength: 3, maxLength: 32, pattern: '^[A-Za-z0-9_]+$' });
    expect(register.properties.password).toMatchObject({ minLength: 8, maxLength: 256 });
    expect(register.required?.sort()).toEqual(['email', 'password', 'username']);
    const user = okOf(operation('post', '/auth/register'), '201').properties.user as { properties: Record<string, JsonSchema> };
    expect(user.properties.createdAt).toEqual({ type: 'string', format: 'date-time' });
    expect(user.properties.role).toMatchObject({ enum: ['user', 'admin'] });

    const list = operation('get', '/posts');
    const params = Object.fromEntries(list.parameters!.map((param) => [param.name, param]));
    expect(params.limit).toMatchObject({ in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } });
    expect(params.published.schema).toEqual({ type: 'boolean' });
    expect(operation('get', '/tasks').parameters!.find((param) => param.name === 'status')!.schema).toMatchObject({
      enum: ['queued', 'running', 'completed', 'failed', 'cancelled'],
    });

    const update = operation('patch', '/posts/{id}');
    expect(update.parameters).toEqual([{ name: 'id', in: 'path', required: true, schema: { type: 'string', minLength: 1, maxLength: 100 } }]);
    expect(bodyOf(update).properties).not.toHaveProperty('id');
    const submit = bodyOf(operation('post', '/tasks')) as unknown as { oneOf?: unknown[]; anyOf?: unknown[] };
    expect((submit.oneOf ?? submit.anyOf)!.length).toBe(2);
  });

  it('lists every error status an operation can return, and declares bearer auth', () => {
    expect(json.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(json.security).toEqual([{ bearerAuth: [] }]);
    const statuses = (method: string, path: string) => Object.keys(operation(method, path).responses).sort();
    expect(statuses('get', '/health')).toEqual(['200', '400', '429', '500', '503']);
    expect(operation('get', '/health').security).toEqual([]);
    expect(operation('get', '/posts').security).toEqual([{}, { bearerAuth: [] }]);
    expect(statuses('post', '/posts')).toEqual(['201', '400', '401', '403', '409', '413', '415', '429', '500', '503']);
    expect(operation('post', '/posts').parameters).toEqual([expect.objectContaining({ name: 'Idempotency-Key', in: 'header', required: false })]);
    expect(statuses('post', '/tasks/{id}/cancel')).toEqual(['200', '400', '401', '403', '404', '409', '429', '500', '503']);
    expect(statuses('post', '/auth/login')).toEqual(['200', '400', '401', '403', '413', '415', '429', '500', '503']);
    expect(json.components.responses.TooManyRequests).toMatchObject({ headers: { 'Retry-After': expect.anything() } });
    expect(json.components.responses.ServiceUnavailable).toMatchObject({ headers: { 'Retry-After': expect.anything() } });
  });
});

describe('the route table', () => {
  const output = z.object({ ok: z.boolean() });
  const build = (routes: Parameters<typeof router>[0]) => () => restOperations(router(routes));

  it('refuses a path parameter that is not a field, a route declared twice, a GET with nested input, and GET for a mutation', () => {
    expect(
      build({ a: publicProcedure.meta({ rest: { method: 'GET', path: '/a/{id}', summary: 'a' } }).input(z.object({ key: z.string() })).output(output).query(() => ({ ok: true })) }),
    ).toThrow(/path parameter \{id\} is not a field/);
    expect(
      build({
        a: publicProcedure.meta({ rest: { method: 'GET', path: '/x/{id}', summary: 'a' } }).input(z.object({ id: z.string() })).output(output).query(() => ({ ok: true })),
        b: publicProcedure.meta({ rest: { method: 'GET', path: '/x/{key}', summary: 'b' } }).input(z.object({ key: z.string() })).output(output).query(() => ({ ok: true })),
      }),
    ).toThrow(/declared twice/);
    expect(
      build({ a: publicProcedure.meta({ rest: { method: 'GET', path: '/a', summary: 'a' } }).input(z.object({ filter: z.object({ x: z.string() }) })).output(output).query(() => ({ ok: true })) }),
    ).toThrow(/query parameter filter must be/);
    expect(build({ a: publicProcedure.meta({ rest: { method: 'GET', path: '/a', summary: 'a' } }).query(() => ({ ok: true })) })).toThrow(/needs an \.output\(\) schema/);
    expect(build({ a: publicProcedure.meta({ rest: { method: 'GET', path: '/a', summary: 'a' } }).output(output).mutation(() => ({ ok: true })) })).toThrow(/GET is for queries/);
    expect(build({ a: publicProcedure.meta({ rest: { method: 'POST', path: '/a', summary: 'a' } }).output(output).query(() => ({ ok: true })) })).toThrow(/GET is for queries/);
  });
});
