// The SDK as a consumer gets it: packed, installed alone into a project outside the repository, type-checked
// under strict settings (skipLibCheck off), and run against a live server on both dialects.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDeps, type Deps } from '../server/deps.ts';
import { createTestDeps, dialects, startTestServer, type TestServer } from '../server/testing/harness.ts';

const root = join(import.meta.dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

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

/** Packages the consumer's install must not contain: the server's own dependencies. */
const SERVER_ONLY = ['express', 'drizzle-orm', 'pg', 'pg-boss', '@node-rs/argon2', 'better-sqlite3', '@electric-sql/pglite', 'ioredis', 'nodemailer', 'zod', 'wink-nlp'];

describe('the packed SDK in a project of its own', () => {
  let project = '';
  let tarball = '';

  beforeAll(() => {
    execFileSync(npm, ['run', '-s', 'sdk:pack'], { cwd: root, stdio: 'pipe' });
    tarball = join(root, 'build', readdirSync(join(root, 'build')).find((file) => file.startsWith('ai-backend-service-client-'))!);
    project = mkdtempSync(join(tmpdir(), 'sdk-consumer-'));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'sdk-consumer', private: true, type: 'module' }));
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, skipLibCheck: false, noEmit: true, types: ['node'] },
        files: ['consumer.ts'],
      }),
    );
    writeFileSync(join(project, 'consumer.ts'), CONSUMER);
    writeFileSync(join(project, 'browser.ts'), BROWSER);
    writeFileSync(
      join(project, 'tsconfig.browser.json'),
      JSON.stringify({
        compilerOptions: { target: 'es2022', lib: ['dom', 'es2022'], module: 'esnext', moduleResolution: 'bundler', strict: true, skipLibCheck: false, noEmit: true, types: [] },
        files: ['browser.ts'],
      }),
    );
    writeFileSync(join(project, 'wrong-input.ts'), WRONG_INPUT);
    writeFileSync(join(project, 'missing-field.ts'), MISSING_FIELD);
    execFileSync(npm, ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, 'typescript@5.9', '@types/node@24'], { cwd: project, stdio: 'pipe' });
  }, 300_000);

  afterAll(() => {
    if (project) rmSync(project, { recursive: true, force: true });
  });

  const tsc = (...args: string[]) => spawnSync(process.execPath, [join(project, 'node_modules', 'typescript', 'bin', 'tsc'), ...args], { cwd: project, encoding: 'utf8' });

  it('installs with none of the server’s dependencies', () => {
    const installed = spawnSync(npm, ['ls', '--all', '--parseable'], { cwd: project, encoding: 'utf8' }).stdout.split('\n');
    const names = new Set(installed.map((path) => path.split('node_modules/').at(-1)));
    expect([...names]).toEqual(expect.arrayContaining(['@ai-backend-service/client', '@trpc/client', '@trpc/server', 'superjson']));
    for (const name of SERVER_ONLY) expect(names.has(name), name).toBe(false);
  });

  it('type-checks a consumer program under strict settings with skipLibCheck off', () => {
    const result = tsc('-p', '.');
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  }, 120_000);

  it('type-checks a browser project (lib dom + es2022, no @types/node, skipLibCheck off) that subscribes', () => {
    const result = tsc('-p', 'tsconfig.browser.json');
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  }, 120_000);

  it('refuses a wrong input type and a field that does not exist, at compile time', () => {
    const common = ['--noEmit', '--strict', '--skipLibCheck', 'false', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node'];
    const wrongInput = tsc(...common, 'wrong-input.ts');
    expect(wrongInput.status).not.toBe(0);
    expect(wrongInput.stdout).toMatch(/wrong-input\.ts\(3,.*Type 'number' is not assignable to type 'string'/);
    const missingField = tsc(...common, 'missing-field.ts');
    expect(missingField.status).not.toBe(0);
    expect(missingField.stdout).toMatch(/missing-field\.ts\(4,.*Property 'passwordHash' does not exist/);
  }, 120_000);

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

    it('registers, logs in, reads, writes, runs a task and reads its typed result', async () => {
      // Asynchronously: the server it talks to runs in this process.
      const run = await promisify(execFile)(process.execPath, ['consumer.ts'], { cwd: project, env: { PATH: process.env.PATH, API_URL: server.url }, encoding: 'utf8', timeout: 60_000 });
      expect(run.stderr).toBe('');
      const out = JSON.parse(run.stdout) as Record<string, unknown>;
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
    }, 90_000);
  });
});
