// The SDK as a consumer gets it, the way it is published: packed from the repository (the package's prepack
// builds dist/, as in a fresh clone), checked as a package (publint, @arethetypeswrong/cli), published to a
// local registry (Verdaccio, storage in a temporary directory) and installed by name and version into fresh
// projects outside the repository whose .npmrc pins the @ai-backend-service scope to that registry. Each project
// type-checks under strict settings (skipLibCheck off) and runs against a live server on both dialects: from
// ESM and from CommonJS at the tRPC, superjson and TypeScript versions this repository uses, at the bottom of
// the peer ranges the package declares, and wired to TanStack Query through @trpc/tanstack-react-query. One
// pack, one registry and one install per project for the whole file; the projects install side by side.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runServer } from 'verdaccio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDeps, type Deps } from '../server/deps.ts';
import { createTestDeps, dialects, startTestServer, type TestServer } from '../server/testing/harness.ts';

const root = join(import.meta.dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const sdk = JSON.parse(readFileSync(join(import.meta.dirname, 'package.json'), 'utf8')) as { name: string; version: string; peerDependencies: Record<string, string> };
const versionOf = (name: string) => (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

/** The versions this repository builds and tests with (its package-lock.json). */
const CURRENT = { trpc: versionOf('@trpc/client'), superjson: versionOf('superjson'), typescript: versionOf('typescript') };
/** The bottom of the peer ranges in client-sdk/package.json (TRPCBuiltRouter, which the types name, is 11.4.0's). */
const BOTTOM = { trpc: '11.4.0', superjson: '2.0.0', typescript: '5.7.2' };
/** @trpc/tanstack-react-query pins @trpc/client and @trpc/server to its own version: its newest release. */
const REACT_QUERY_TRPC = '11.22.1';

/** A hang guard for one type-check, not a promise: on a busy 2-core machine one took over 120 s. */
const COMPILE = 400_000;

const execFileAsync = promisify(execFile);
/** Asynchronously: the registry and the API these commands talk to run in this process. */
const run = (command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }) =>
  execFileAsync(command, args, { cwd: options.cwd, env: options.env ?? process.env, encoding: 'utf8', timeout: options.timeout ?? 300_000, maxBuffer: 16 * 1024 * 1024 });

const CONSUMER = `import { createClient, fieldErrorsOf, isApiError, type RouterOutputs } from '@ai-backend-service/client';

const api = createClient({ url: process.env.API_URL! });
const name = \`consumer_\${Date.now()}\`;
const password = 'consumer password 1';
const registered = await api.auth.register.mutate({ username: name, email: \`\${name}@example.com\`, password });
api.setToken(null);
const login = await api.signIn({ usernameOrEmail: name, password });
const me = await api.auth.me.query();
const post = await api.posts.create.mutate({ title: 'From the SDK', body: 'typed all the way', published: true });
const list = await api.posts.list.query({ authorId: me.id, limit: 5 });
// One object in two places: sent as two copies (the server refuses superjson's reference metadata).
const shared = { note: 'the same object twice' };
const withShared = { id: post.id, a: shared, b: shared };
const sharedFetched = await api.posts.get.query(withShared);
const { id } = await api.tasks.submit.mutate({ type: 'text.analyze', input: { text: 'What a wonderful, wonderful day. Write to ada@example.com on 5 June 2027.' } });
let task: RouterOutputs['tasks']['get'] = await api.tasks.get.query({ id });
const deadline = Date.now() + 30_000;
while ((task.status === 'queued' || task.status === 'running') && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 100));
  task = await api.tasks.get.query({ id });
}
let words = -1;
let sentiment = '';
let emails: string[] = [];
if (task.type === 'text.analyze' && task.result) {
  words = task.result.words;
  sentiment = task.result.sentiment.label;
  emails = task.result.entities.filter((entity) => entity.type === 'EMAIL').map((entity) => entity.value);
}
// Watching it: its current state first (finished by now), then the stream ends; over SSE, with the bearer token.
const watched: string[] = [];
await new Promise<void>((resolve, reject) => {
  const subscription = api.tasks.onChange.subscribe(
    { taskId: id },
    {
      onData: ({ id: eventId, data }) => watched.push(\`\${eventId.split(':')[1]}:\${data.status}\`),
      onError: reject,
      onComplete: () => {
        subscription.unsubscribe();
        resolve();
      },
    },
  );
});
let conflict: string[] | undefined;
try {
  await api.auth.register.mutate({ username: name, email: \`other-\${name}@example.com\`, password });
} catch (error) {
  if (isApiError(error, 'CONFLICT')) conflict = error.data.fieldErrors?.username;
}
let badInput: Record<string, string[]> = {};
try {
  await api.posts.create.mutate({ title: '', body: 'x' });
} catch (error) {
  badInput = fieldErrorsOf(error);
}
await api.signOut();
let afterSignOut = '';
try {
  await api.auth.me.query();
} catch (error) {
  if (isApiError(error)) afterSignOut = error.data.code;
}
console.log(JSON.stringify({
  registered: registered.user.username,
  gotToken: login.token !== null && login.token.length > 0,
  expiresAtIsDate: login.expiresAt instanceof Date,
  me: me.username,
  post: post.title,
  listed: list.items.map((item) => item.title),
  shared: sharedFetched.id === post.id,
  status: task.status,
  watched,
  taskId: id,
  words,
  sentiment,
  emails,
  conflict,
  badInput: Object.keys(badInput),
  afterSignOut,
}));
`;

/** A CommonJS program: require() of the ESM package (Node 22.12+), a real call, and a typed error. */
const CONSUMER_CJS = `'use strict';
const { createClient, isApiError } = require('@ai-backend-service/client');

(async () => {
  const api = createClient({ url: process.env.API_URL });
  const health = await api.health.check.query();
  let code = '';
  try {
    await api.auth.me.query();
  } catch (error) {
    if (isApiError(error, 'UNAUTHORIZED')) code = error.data.code;
  }
  console.log(JSON.stringify({ status: health.status, code }));
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`;

/** The same from TypeScript compiled as CommonJS (a .cts file under module nodenext: TypeScript 5.8+). */
const CONSUMER_CTS = `import { createClient, isApiError, type Client } from '@ai-backend-service/client';

const api: Client = createClient({ url: 'https://api.example.com' });
export async function whoAmI(): Promise<string> {
  try {
    return (await api.auth.me.query()).username;
  } catch (error) {
    if (isApiError(error, 'UNAUTHORIZED')) return 'nobody';
    throw error;
  }
}
`;

const WRONG_INPUT = `import { createClient } from '@ai-backend-service/client';
const api = createClient({ url: 'http://127.0.0.1:1' });
await api.auth.register.mutate({ username: 42, email: 'x@example.com', password: 'long enough password' });
`;

const MISSING_FIELD = `import { createClient } from '@ai-backend-service/client';
const api = createClient({ url: 'http://127.0.0.1:1' });
const me = await api.auth.me.query();
console.log(me.passwordHash);
`;

/** A dashboard's code, type-checked as a browser project: DOM and ES2022 libraries only, no @types/node. */
const BROWSER = `import { createClient, isApiError, type RouterOutputs } from '@ai-backend-service/client';

const api = createClient({ url: 'https://api.example.com', credentials: 'include' });
const list = document.createElement('ul');
const { id } = await api.tasks.submit.mutate({ type: 'math.sum', input: { numbers: [1, 2] } });
const subscription = api.tasks.onChange.subscribe(
  { taskId: id },
  {
    onData: ({ id: eventId, data }: { id: string; data: RouterOutputs['tasks']['get'] }) => {
      const item = document.createElement('li');
      item.textContent = \`\${eventId}: \${data.status}\${data.type === 'math.sum' && data.result ? \` = \${data.result.sum}\` : ''}\`;
      list.append(item);
    },
    onError: (error) => {
      if (isApiError(error, 'UNAUTHORIZED')) location.assign('/login');
    },
  },
);
window.addEventListener('pagehide', () => subscription.unsubscribe());
api.admin.onStats.subscribe(undefined, { onData: ({ data }) => console.log(data.tasks.completed) });
`;

/** TanStack Query in Node (no rendering): the options proxy over the SDK's client, fetched for real. */
const QUERY_CLIENT = `import { QueryClient } from '@tanstack/react-query';
import { createTRPCOptionsProxy } from '@trpc/tanstack-react-query';
import { createClient, isApiError, type AppRouter } from '@ai-backend-service/client';

const api = createClient({ url: process.env.API_URL! });
const queryClient = new QueryClient();
const trpc = createTRPCOptionsProxy<AppRouter>({ client: api, queryClient });
const health = await queryClient.fetchQuery(trpc.health.check.queryOptions());
const cached = queryClient.getQueryData(trpc.health.check.queryKey());
let code = '';
try {
  await queryClient.fetchQuery(trpc.auth.me.queryOptions());
} catch (error) {
  if (isApiError(error, 'UNAUTHORIZED')) code = error.data.code;
}
const page = await queryClient.fetchInfiniteQuery(trpc.posts.list.infiniteQueryOptions({ limit: 5 }, { getNextPageParam: (last) => last.nextCursor }));
console.log(JSON.stringify({ status: health.status, cached: cached?.status, code, pages: page.pages.length, itemsIsArray: Array.isArray(page.pages[0]?.items) }));
`;

/** The README's React example (its tsx block), type-checked as a browser project (jsx react-jsx, skipLibCheck off). */
const REACT_APP = /## React with TanStack Query[\s\S]*?```tsx\n([\s\S]*?)```/.exec(readFileSync(join(import.meta.dirname, 'README.md'), 'utf8'))?.[1] ?? '';

/** Packages the consumer's install must not contain: the server's own dependencies. */
const SERVER_ONLY = ['express', 'drizzle-orm', 'pg', 'pg-boss', '@node-rs/argon2', 'better-sqlite3', '@electric-sql/pglite', 'ioredis', 'nodemailer', 'zod', 'wink-nlp'];

/** The compiler settings the README documents, skipLibCheck off everywhere. */
const NODE_TSCONFIG = { target: 'es2022', lib: ['es2022', 'dom'], module: 'nodenext', moduleResolution: 'nodenext', strict: true, skipLibCheck: false, noEmit: true, types: ['node'] };
const BROWSER_TSCONFIG = { target: 'es2022', lib: ['es2022', 'dom', 'dom.iterable'], module: 'esnext', moduleResolution: 'bundler', strict: true, skipLibCheck: false, noEmit: true, types: [] };

type Project = { dir: string; install: Promise<unknown> };

/** A fresh project outside the repository: its .npmrc sends the scope to the local registry, nothing else. */
function createProject(name: string, registry: string, packages: string[], files: Record<string, string>): Project {
  const dir = mkdtempSync(join(tmpdir(), `sdk-${name}-`));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `sdk-${name}`, private: true, type: 'module' }));
  writeFileSync(join(dir, '.npmrc'), `@ai-backend-service:registry=${registry}\n`);
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  const install = run(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', `${sdk.name}@${sdk.version}`, ...packages], { cwd: dir });
  // Awaited in beforeAll; a rejection is reported there, not as an unhandled one meanwhile.
  install.catch(() => undefined);
  return { dir, install };
}

const tsc = (project: string, ...args: string[]) => run(process.execPath, [join(project, 'node_modules', 'typescript', 'bin', 'tsc'), ...args], { cwd: project, timeout: COMPILE }).then(
  ({ stdout, stderr }) => ({ status: 0, output: stdout + stderr }),
  (error: { code?: number; stdout?: string; stderr?: string }) => ({ status: error.code ?? 1, output: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
);

/** Every installed copy of a package, by its directory. */
async function copiesOf(project: string, name: string): Promise<string[]> {
  const { stdout } = await run(npm, ['ls', '--all', '--parseable'], { cwd: project });
  return stdout.split('\n').filter((path) => path.endsWith(`node_modules/${name}`));
}

describe('the SDK, published to a registry and installed by name', () => {
  const work = mkdtempSync(join(tmpdir(), 'sdk-registry-'));
  let tarball = '';
  let registry: Server;
  let registryUrl = '';
  let current: Project;
  let bottom: Project;
  let reactQuery: Project;

  beforeAll(async () => {
    // As in a fresh clone: no dist/ until the package's prepack builds it.
    rmSync(join(import.meta.dirname, 'dist'), { recursive: true, force: true });
    const packed = await run(npm, ['pack', './client-sdk', '--pack-destination', work, '--json'], { cwd: root });
    tarball = join(work, (JSON.parse(packed.stdout) as { filename: string }[])[0].filename);

    // Verdaccio in this process, on a free port; it holds the scope's packages only and proxies nothing.
    const storage = join(work, 'registry');
    mkdirSync(storage);
    writeFileSync(
      join(storage, 'config.yaml'),
      [
        `storage: ${join(storage, 'storage')}`,
        `auth: { htpasswd: { file: ${join(storage, 'htpasswd')}, max_users: 1 } }`,
        'uplinks: {}',
        "packages: { '@ai-backend-service/*': { access: $all, publish: $authenticated }, '**': { access: $all } }",
        'web: { enable: false }',
        'log: { type: stdout, format: json, level: error }',
        '',
      ].join('\n'),
    );
    registry = (await runServer(join(storage, 'config.yaml'))) as Server;
    registry.listen(0, '127.0.0.1');
    await once(registry, 'listening');
    registryUrl = `http://127.0.0.1:${(registry.address() as AddressInfo).port}/`;

    // A publisher's account, and its token in a user config of its own (never the user's ~/.npmrc).
    const account = await fetch(`${registryUrl}-/user/org.couchdb.user:publisher`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'publisher', password: 'publisher password 1' }),
    });
    expect(account.status).toBe(201);
    const { token } = (await account.json()) as { token: string };
    const userconfig = join(work, 'publisher.npmrc');
    writeFileSync(userconfig, `//127.0.0.1:${(registry.address() as AddressInfo).port}/:_authToken=${token}\n`);
    await run(npm, ['publish', tarball, '--registry', registryUrl], { cwd: work, env: { ...process.env, npm_config_userconfig: userconfig } });

    current = createProject('current', registryUrl, [`@trpc/client@${CURRENT.trpc}`, `@trpc/server@${CURRENT.trpc}`, `superjson@${CURRENT.superjson}`, `typescript@${CURRENT.typescript}`, '@types/node@24'], {
      'consumer.ts': CONSUMER,
      'consumer.cjs': CONSUMER_CJS,
      'consumer.cts': CONSUMER_CTS,
      'browser.ts': BROWSER,
      'wrong-input.ts': WRONG_INPUT,
      'missing-field.ts': MISSING_FIELD,
      'tsconfig.json': JSON.stringify({ compilerOptions: NODE_TSCONFIG, files: ['consumer.ts', 'consumer.cts'] }),
      'tsconfig.node-without-dom.json': JSON.stringify({ compilerOptions: { ...NODE_TSCONFIG, lib: ['es2022'] }, files: ['consumer.ts'] }),
      'tsconfig.browser.json': JSON.stringify({ compilerOptions: BROWSER_TSCONFIG, files: ['browser.ts'] }),
    });
    // tRPC 11.9.0 to 11.22.1's declarations import Node's http and the ws package's types, which do not compile
    // with skipLibCheck off (browser or Node.js, @types/ws or not): at those versions, skipLibCheck as Vite's
    // templates set it (the README says so). The bottom of the range and 11.23.0+ compile with it off.
    const reactFiles = (skipLibCheck: boolean) => ({
      'query-client.ts': QUERY_CLIENT,
      'app.tsx': REACT_APP,
      'tsconfig.json': JSON.stringify({ compilerOptions: { ...NODE_TSCONFIG, skipLibCheck }, files: ['query-client.ts'] }),
      'tsconfig.browser.json': JSON.stringify({ compilerOptions: { ...BROWSER_TSCONFIG, skipLibCheck, jsx: 'react-jsx' }, files: ['app.tsx'] }),
    });
    const reactPackages = ['@tanstack/react-query@5', 'react@19', '@types/react@19', '@types/node@24'];
    bottom = createProject('bottom', registryUrl, [`@trpc/client@${BOTTOM.trpc}`, `@trpc/server@${BOTTOM.trpc}`, `@trpc/tanstack-react-query@${BOTTOM.trpc}`, `superjson@${BOTTOM.superjson}`, `typescript@${BOTTOM.typescript}`, ...reactPackages], reactFiles(false));
    reactQuery = createProject('react-query', registryUrl, [`@trpc/client@${REACT_QUERY_TRPC}`, `@trpc/server@${REACT_QUERY_TRPC}`, `@trpc/tanstack-react-query@${REACT_QUERY_TRPC}`, `superjson@${CURRENT.superjson}`, `typescript@${CURRENT.typescript}`, ...reactPackages], reactFiles(true));
    await Promise.all([current.install, bottom.install, reactQuery.install]);
  }, 900_000);

  afterAll(async () => {
    if (registry?.listening) {
      registry.closeAllConnections();
      await new Promise((resolve) => registry.close(resolve));
    }
    for (const project of [current, bottom, reactQuery]) if (project) rmSync(project.dir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  describe('the package', () => {
    it('ships dist/ built by prepack, and declares tRPC and superjson as peers from the tested bottom', async () => {
      const { stdout } = await run('tar', ['-tzf', tarball], { cwd: work });
      expect(stdout.split('\n').filter(Boolean).sort()).toEqual(
        ['package/CHANGELOG.md', 'package/README.md', 'package/dist/app-router.d.ts', 'package/dist/app-router.js', 'package/dist/index.d.ts', 'package/dist/index.js', 'package/package.json'].sort(),
      );
      expect(sdk.peerDependencies).toEqual({ '@trpc/client': `^${BOTTOM.trpc}`, '@trpc/server': `^${BOTTOM.trpc}`, superjson: `^${BOTTOM.superjson}` });
    });

    it('passes publint (strict)', async () => {
      const { stdout } = await run(process.execPath, [join(root, 'node_modules', 'publint', 'src', 'cli.js'), 'run', tarball, '--strict'], { cwd: work });
      expect(stdout).toContain('All good!');
    });

    it('passes @arethetypeswrong/cli (require() of the ESM build is Node 22.12+ and TypeScript 5.8+, tested below)', async () => {
      const { stdout } = await run(process.execPath, [join(root, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js'), tarball, '--ignore-rules', 'cjs-resolves-to-esm', '--format', 'json'], { cwd: work });
      // The JSON lists ignored problems too (the exit code, 0 here, leaves them out).
      const report = JSON.parse(stdout) as { analysis: { problems: { kind: string }[] } };
      expect(report.analysis.problems.filter((problem) => problem.kind !== 'CJSResolvesToESM')).toEqual([]);
    });

    it('is published under its name and version, holding only the scope', async () => {
      const packument = (await (await fetch(`${registryUrl}${sdk.name.replace('/', '%2f')}`)).json()) as { 'dist-tags': Record<string, string> };
      expect(packument['dist-tags']).toEqual({ latest: sdk.version });
      expect((await fetch(`${registryUrl}express`)).status).toBe(404);
    });
  });

  describe(`at the versions this repository uses (tRPC ${CURRENT.trpc}, superjson ${CURRENT.superjson}, TypeScript ${CURRENT.typescript})`, () => {
    it('installs from the registry with none of the server’s dependencies and one copy of tRPC', async () => {
      const installed = JSON.parse(readFileSync(join(current.dir, 'node_modules', '@ai-backend-service', 'client', 'package.json'), 'utf8')) as { version: string };
      expect(installed.version).toBe(sdk.version);
      // What was published, byte for byte (npm leaves registry URLs out of the lock).
      const lock = JSON.parse(readFileSync(join(current.dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, { integrity?: string }> };
      const packument = (await (await fetch(`${registryUrl}${sdk.name.replace('/', '%2f')}`)).json()) as { versions: Record<string, { dist: { integrity: string } }> };
      expect(lock.packages['node_modules/@ai-backend-service/client'].integrity).toBe(packument.versions[sdk.version].dist.integrity);
      const { stdout } = await run(npm, ['ls', '--all', '--parseable'], { cwd: current.dir });
      const names = new Set(stdout.split('\n').map((path) => path.split('node_modules/').at(-1)));
      expect([...names]).toEqual(expect.arrayContaining(['@ai-backend-service/client', '@trpc/client', '@trpc/server', 'superjson', 'eventsource']));
      for (const name of SERVER_ONLY) expect(names.has(name), name).toBe(false);
      expect(await copiesOf(current.dir, '@trpc/server')).toHaveLength(1);
      // Each procedure's JSDoc, from the server's REST metadata, reaches the consumer's editor.
      const declarations = readFileSync(join(current.dir, 'node_modules', '@ai-backend-service', 'client', 'dist', 'app-router.d.ts'), 'utf8');
      expect(declarations).toMatch(/\* Create an account and sign in\.\n[\s\S]*?@throws \{ApiError\} \(`error\.data\.code`\) `CONFLICT`;[^\n]*\n\s*\*\/\n\s*register: TRPCMutationProcedure/);
    });

    it('type-checks a Node.js program (ESM and a CommonJS .cts) with lib es2022 + dom, skipLibCheck off', async () => {
      expect(await tsc(current.dir, '-p', '.')).toEqual({ status: 0, output: '' });
    }, COMPILE);

    it('needs lib dom in a Node.js project, as the README says: tRPC’s declarations name RequestInfo', async () => {
      const result = await tsc(current.dir, '-p', 'tsconfig.node-without-dom.json');
      expect(result.status).not.toBe(0);
      expect(result.output).toContain("Cannot find name 'RequestInfo'");
    }, COMPILE);

    it('type-checks a browser project (lib dom, no @types/node, skipLibCheck off) that subscribes', async () => {
      expect(await tsc(current.dir, '-p', 'tsconfig.browser.json')).toEqual({ status: 0, output: '' });
    }, COMPILE);

    it('refuses a wrong input type and a field that does not exist, at compile time', async () => {
      const common = ['--noEmit', '--strict', '--skipLibCheck', 'false', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node'];
      const result = await tsc(current.dir, ...common, 'wrong-input.ts', 'missing-field.ts');
      expect(result.status).not.toBe(0);
      expect(result.output).toMatch(/wrong-input\.ts\(3,.*Type 'number' is not assignable to type 'string'/);
      expect(result.output).toMatch(/missing-field\.ts\(4,.*Property 'passwordHash' does not exist/);
    }, COMPILE);
  });

  describe(`at the bottom of the peer ranges (tRPC ${BOTTOM.trpc}, superjson ${BOTTOM.superjson}, TypeScript ${BOTTOM.typescript}) and with @trpc/tanstack-react-query`, () => {
    it('the README has a React example to check', () => {
      expect(REACT_APP).toContain('createTRPCContext<AppRouter>()');
    });

    it.each([
      ['bottom (skipLibCheck off)', () => bottom],
      [`@trpc/tanstack-react-query ${REACT_QUERY_TRPC} (skipLibCheck on)`, () => reactQuery],
    ])('%s: one copy of each tRPC package, and the React app and the Node program type-check', async (_name, project) => {
      const { dir } = project();
      for (const name of ['@trpc/client', '@trpc/server', 'superjson']) expect(await copiesOf(dir, name), name).toHaveLength(1);
      expect(await tsc(dir, '-p', 'tsconfig.browser.json')).toEqual({ status: 0, output: '' });
      expect(await tsc(dir, '-p', '.')).toEqual({ status: 0, output: '' });
    }, 2 * COMPILE);
  });

  describe.each(dialects)('against a live server on %s', (dialect) => {
    let deps: Deps;
    let server: TestServer;
    beforeAll(async () => {
      deps = await createTestDeps(dialect, { worker: true });
      await deps.queue.work(deps);
      server = await startTestServer(deps);
    });
    afterAll(async () => {
      await server.close();
      await closeDeps(deps);
    });

    const node = (project: Project, file: string) => run(process.execPath, [file], { cwd: project.dir, env: { PATH: process.env.PATH, API_URL: server.url }, timeout: 60_000 });

    it('ESM: registers, logs in, reads, writes, runs a task and reads its typed result', async () => {
      const { stdout, stderr } = await node(current, 'consumer.ts');
      expect(stderr).toBe('');
      const out = JSON.parse(stdout) as Record<string, unknown>;
      expect(out).toMatchObject({
        gotToken: true,
        expiresAtIsDate: true,
        post: 'From the SDK',
        listed: ['From the SDK'],
        shared: true,
        status: 'completed',
        sentiment: 'positive',
        emails: ['ada@example.com'],
        conflict: ['username is already taken'],
        badInput: ['title'],
        afterSignOut: 'UNAUTHORIZED',
      });
      expect(out.watched).toEqual([`${String(out.taskId)}:completed`]);
      expect(out.words).toBeGreaterThan(5);
      expect(out.me).toBe(out.registered);
    });

    it('CommonJS: require() gets the client, which calls and narrows errors', async () => {
      const { stdout, stderr } = await node(current, 'consumer.cjs');
      expect(stderr).toBe('');
      expect(JSON.parse(stdout)).toEqual({ status: 'ok', code: 'UNAUTHORIZED' });
    });

    it.each([
      ['the bottom of the peer ranges', () => bottom],
      [`@trpc/tanstack-react-query ${REACT_QUERY_TRPC}`, () => reactQuery],
    ])('TanStack Query through createTRPCOptionsProxy, at %s', async (_name, project) => {
      const { stdout, stderr } = await node(project(), 'query-client.ts');
      expect(stderr).toBe('');
      expect(JSON.parse(stdout)).toEqual({ status: 'ok', cached: 'ok', code: 'UNAUTHORIZED', pages: 1, itemsIsArray: true });
    });
  });
});
