// Generates client-sdk/src/app-router.ts: the router's procedures with their input and output types written
// out in full, so the SDK's declarations need nothing of the server (no context, services, drizzle or pg).
// Each procedure carries a JSDoc comment from its REST metadata (summary, description, access, errors), so an
// editor shows it on `api.posts.create`. `node scripts/sdk-generate.ts` writes it; `--check` fails when the
// committed file is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import type { Access } from '../server/trpc/meta.ts';
import { ALWAYS, restOperations, WITH_BODY, type Operation } from '../server/rest/operations.ts';
import { appRouter } from '../server/routers/index.ts';

const root = join(import.meta.dirname, '..');
const OUT = join(root, 'client-sdk', 'src', 'app-router.ts');
const ENTRY = join(root, 'server', 'routers', 'index.ts');

const configFile = ts.readConfigFile(join(root, 'tsconfig.json'), (path) => ts.sys.readFile(path));
const { options } = ts.parseJsonConfigFileContent(configFile.config, ts.sys, root);
const program = ts.createProgram({ rootNames: [ENTRY], options: { ...options, noEmit: true } });
const checker = program.getTypeChecker();

const source = program.getSourceFile(ENTRY);
if (!source) throw new Error(`cannot read ${ENTRY}`);
const moduleSymbol = checker.getSymbolAtLocation(source);
const routerSymbol = moduleSymbol && checker.getExportsOfModule(moduleSymbol).find((symbol) => symbol.name === 'appRouter');
if (!routerSymbol) throw new Error('server/routers/index.ts exports no appRouter');

function property(type: ts.Type, name: string): ts.Type {
  const symbol = checker.getPropertyOfType(type, name);
  if (!symbol) throw new Error(`no property ${name} on ${checker.typeToString(type)}`);
  return checker.getTypeOfSymbol(symbol);
}

const indent = (depth: number) => '  '.repeat(depth);
const key = (name: string) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name));

/** Writes a type out structurally: no alias or interface of ours (or of zod's) survives, only lib's Date. */
function print(type: ts.Type, depth: number): string {
  if (depth > 30) throw new Error('type too deep to print');
  const flags = type.flags;
  if (flags & ts.TypeFlags.String) return 'string';
  if (flags & ts.TypeFlags.Number) return 'number';
  if (flags & ts.TypeFlags.Boolean) return 'boolean';
  if (flags & ts.TypeFlags.BigInt) return 'bigint';
  if (flags & ts.TypeFlags.Null) return 'null';
  if (flags & ts.TypeFlags.Undefined) return 'undefined';
  if (flags & ts.TypeFlags.Void) return 'void';
  if (flags & ts.TypeFlags.Unknown) return 'unknown';
  if (flags & ts.TypeFlags.Any) throw new Error('an `any` reached the public API');
  if (flags & ts.TypeFlags.Never) return 'never';
  if (type.isStringLiteral()) return JSON.stringify(type.value);
  if (type.isNumberLiteral()) return String(type.value);
  if (flags & ts.TypeFlags.BooleanLiteral) return checker.typeToString(type);
  if (type.isUnion()) {
    const parts = type.types.map((part) => print(part, depth));
    // true | false, as TS splits boolean inside unions
    const merged = parts.includes('true') && parts.includes('false') ? ['boolean', ...parts.filter((part) => part !== 'true' && part !== 'false')] : parts;
    return [...new Set(merged)].join(' | ');
  }
  if (type.isIntersection()) return type.types.map((part) => `(${print(part, depth)})`).join(' & ');
  if (type.symbol?.name === 'Date' && type.symbol.declarations?.some((d) => d.getSourceFile().hasNoDefaultLib)) return 'Date';
  if (checker.isArrayType(type)) {
    const element = print(checker.getTypeArguments(type as ts.TypeReference)[0], depth);
    return /[|&\s]/.test(element) ? `Array<${element}>` : `${element}[]`;
  }
  if (checker.isTupleType(type)) return `[${checker.getTypeArguments(type as ts.TypeReference).map((t) => print(t, depth)).join(', ')}]`;
  if (flags & ts.TypeFlags.Object) {
    const lines: string[] = [];
    for (const info of checker.getIndexInfosOfType(type)) {
      lines.push(`${indent(depth + 1)}[key: ${print(info.keyType, depth + 1)}]: ${print(info.type, depth + 1)};`);
    }
    for (const symbol of checker.getPropertiesOfType(type)) {
      const optional = (symbol.flags & ts.SymbolFlags.Optional) !== 0;
      lines.push(`${indent(depth + 1)}${key(symbol.name)}${optional ? '?' : ''}: ${print(checker.getTypeOfSymbol(symbol), depth + 1)};`);
    }
    if (checker.getSignaturesOfType(type, ts.SignatureKind.Call).length > 0) throw new Error('a function reached the public API');
    return lines.length === 0 ? '{}' : `{\n${lines.join('\n')}\n${indent(depth)}}`;
  }
  throw new Error(`cannot print ${checker.typeToString(type)}`);
}

/**
 * A subscription's output as the client sees it: a stream of `{ id, data }` events (`tracked()` on the server,
 * server/trpc/event-stream.ts), written out like any other type.
 */
function printStream(name: string, stream: ts.Type, depth: number): string {
  const [event] = checker.getTypeArguments(stream as ts.TypeReference);
  if (!event || !checker.getPropertyOfType(event, 'id') || !checker.getPropertyOfType(event, 'data')) throw new Error(`${name}: a subscription must stream tracked() events (eventStream)`);
  return `AsyncIterable<${print(event, depth)}>`;
}

const operations = new Map(restOperations(appRouter).map((operation) => [operation.procedurePath, operation]));

const ACCESS: Record<Access, string> = {
  public: 'anyone',
  user: 'signed in (a session or an API token)',
  session: 'signed in with a session (an API token gets `FORBIDDEN`)',
  admin: 'admins',
};

/** A procedure's JSDoc, from the REST metadata the server already holds for /openapi.json. */
function docOf(path: string, depth: number): string {
  const operation: Operation | undefined = operations.get(path);
  if (!operation) throw new Error(`${path}: no REST metadata (meta.rest with a summary) to document it with`);
  const { route, access, errors } = operation;
  // Its own errors first (the ones its services raise, and the credential checks), then what any call can get;
  // 413 and 415 are the plain-JSON REST surface's, where a client sends the body itself.
  const own = errors.filter((code) => !ALWAYS.includes(code) && !WITH_BODY.includes(code));
  const list = (codes: readonly string[]) => codes.map((code) => `\`${code}\``).join(', ');
  const sentence = (text: string) => (/[.!?)]$/.test(text) ? text : `${text}.`);
  const paragraphs = [sentence(route.summary), ...(route.description ? [sentence(route.description)] : [])];
  const lines = [
    ...paragraphs.flatMap((paragraph, index) => (index === 0 ? [paragraph] : ['', paragraph])),
    '',
    `Who may call it: ${ACCESS[access]}. REST: \`${route.method} /api${route.path}\`.`,
    `@throws {ApiError} (\`error.data.code\`) ${own.length > 0 ? `${list(own)}; or, as any call can, ` : 'as any call can: '}${list(ALWAYS)}.`,
  ];
  // A `*/` in a description would end the comment early.
  const body = lines.map((line) => `${indent(depth)} *${line ? ` ${line.replaceAll('*/', '*\\/')}` : ''}`).join('\n');
  return `${indent(depth)}/**\n${body}\n${indent(depth)} */\n`;
}

/** The router's record: nested objects of procedures, each `Query|MutationProcedure<{ input, output }>`. */
function printRecord(record: ts.Type, depth: number, prefix = ''): string {
  const lines: string[] = [];
  for (const symbol of checker.getPropertiesOfType(record)) {
    const value = checker.getTypeOfSymbol(symbol);
    const def = checker.getPropertyOfType(value, '_def');
    const isProcedure = def && checker.getPropertyOfType(checker.getTypeOfSymbol(def), 'procedure');
    const path = `${prefix}${symbol.name}`;
    if (!isProcedure) {
      lines.push(`${indent(depth + 1)}${key(symbol.name)}: ${printRecord(value, depth + 1, `${path}.`)};`);
      continue;
    }
    const defType = checker.getTypeOfSymbol(def);
    const kind = checker.typeToString(property(defType, 'type'));
    const procedure = kind === '"query"' ? 'TRPCQueryProcedure' : kind === '"mutation"' ? 'TRPCMutationProcedure' : kind === '"subscription"' ? 'TRPCSubscriptionProcedure' : null;
    if (!procedure) throw new Error(`${symbol.name}: ${kind} procedures are not supported by the SDK generator`);
    const types = property(defType, '$types');
    const inner = depth + 2;
    lines.push(
      `${docOf(path, depth + 1)}${indent(depth + 1)}${key(symbol.name)}: ${procedure}<{\n` +
        `${indent(inner)}meta: object;\n` +
        `${indent(inner)}input: ${print(property(types, 'input'), inner)};\n` +
        `${indent(inner)}output: ${procedure === 'TRPCSubscriptionProcedure' ? printStream(symbol.name, property(types, 'output'), inner) : print(property(types, 'output'), inner)};\n` +
        `${indent(inner)}errorShape: ErrorShape;\n` +
        `${indent(depth + 1)}}>;`,
    );
  }
  return `{\n${lines.join('\n')}\n${indent(depth)}}`;
}

const routerType = checker.getTypeOfSymbol(routerSymbol);
const def = property(routerType, '_def');
const errorShape = property(property(property(def, '_config'), '$types'), 'errorShape');

const output = `// Generated by \`npm run sdk:build\` from server/routers: do not edit. The router's procedures with their input
// and output types written out, so this package needs nothing of the server.
import type { TRPCBuiltRouter, TRPCMutationProcedure, TRPCQueryProcedure, TRPCSubscriptionProcedure } from '@trpc/server';

/** What every error response carries (\`error.shape\` of a TRPCClientError). */
export type ErrorShape = ${print(errorShape, 0)};

export type AppRouter = TRPCBuiltRouter<
  { ctx: object; meta: object; errorShape: ErrorShape; transformer: true },
  ${printRecord(property(def, 'record'), 1)}
>;
`;

if (process.argv.includes('--check')) {
  const committed = readFileSync(OUT, 'utf8');
  if (committed !== output) {
    console.error('client-sdk/src/app-router.ts is out of date with server/routers: run npm run sdk:build and commit it');
    process.exit(1);
  }
  console.log('client-sdk/src/app-router.ts matches server/routers');
} else {
  writeFileSync(OUT, output);
  console.log(`wrote client-sdk/src/app-router.ts (${output.length} bytes)`);
}
