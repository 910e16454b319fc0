// Keeps docs/deploy-*.md and compose.yaml true to the code: every variable they set is read by server/config.ts
// (or by the one script that reads it) with a value its schema accepts, and every path, port and command they
// name is one the code serves, listens on or has. Nothing here runs Docker, gcloud or aws: the files are read.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import pkg from '../package.json' with { type: 'json' };
import { configVariables, loadConfig } from '../server/config.ts';
import { createOpsApp } from '../server/http/ops.ts';
import { drain, listen } from '../server/http/server.ts';
import { dialects, startTestServer, useTestDeps } from '../server/testing/harness.ts';

type Env = Record<string, string>;

const cloudRun = readFileSync('docs/deploy-cloud-run.md', 'utf8');
const ecs = readFileSync('docs/deploy-ecs.md', 'utf8');
const guides = { 'docs/deploy-cloud-run.md': cloudRun, 'docs/deploy-ecs.md': ecs };
const composeText = readFileSync('compose.yaml', 'utf8');

/** Variables the guides may set that server/config.ts does not read, and the file that reads each one. */
const READ_ELSEWHERE: Record<string, string> = {
  HEALTHCHECK_PORT: 'scripts/healthcheck.ts',
  ADMIN_PASSWORD: 'scripts/create-admin.ts',
};

/** Shell expansions a guide leaves to the operator, replaced by a value of the shape they produce. */
const HEX = '0123456789abcdef'.repeat(4);
function expandShell(text: string): string {
  return text.replace(/\$\([^()]*\)/g, HEX).replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, 'placeholder');
}

/** The shell commands in the fenced blocks, continuation lines joined. */
function commands(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]);
  return blocks.flatMap((block) => block.replace(/\\\n\s*/g, ' ').split('\n')).map((line) => line.trim());
}

/** Names in the first column of the "## Environment" table. */
function tableVariables(markdown: string): string[] {
  const section = markdown.split(/^## /m).find((part) => part.startsWith('Environment')) ?? '';
  return section
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .flatMap((line) => [...(line.split('|')[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((match) => match[1]));
}

/** NAME=value pairs of --set-env-vars / --update-env-vars. */
function envFlags(markdown: string): Env {
  const pairs = [...markdown.matchAll(/--(?:set|update)-env-vars[ =](?:"([^"]*)"|(\S+))/g)].flatMap((match) => (match[1] ?? match[2]).split(','));
  return Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
}

/** Variables mapped to secrets anywhere (`NAME=abs-secret:version`, or `"name": "NAME", "valueFrom"`). */
function secretVariables(markdown: string): string[] {
  const gcp = [...markdown.matchAll(/\b([A-Z][A-Z0-9_]*)=abs-[a-z-]+:/g)].map((match) => match[1]);
  const aws = [...markdown.matchAll(/\\?"name\\?": \\?"([A-Z][A-Z0-9_]*)\\?", \\?"valueFrom/g)].map((match) => match[1]);
  return [...gcp, ...aws];
}

// ---- Cloud Run: the env files, the secrets as created, the env flags
const envFiles: Record<string, Env> = Object.fromEntries(
  [...cloudRun.matchAll(/cat > (\w+)\.env\.yaml <<'EOF'\n([\s\S]*?)\nEOF/g)].map((match) => [match[1], parse(match[2]) as Env]),
);
const gcpSecretValues: Record<string, string> = Object.fromEntries(
  [...cloudRun.matchAll(/printf %s (["'])(.*?)\1 \|\s*(?:\\\n\s*)?gcloud secrets create ([a-z-]+)/g)].map((match) => [match[3], expandShell(match[2])]),
);
/** NAME → the value of the secret it is mapped to (`DATABASE_URL=abs-database-url:…`). */
const gcpSecretEnv: Env = Object.fromEntries(
  [...cloudRun.matchAll(/\b([A-Z][A-Z0-9_]*)=(abs-[a-z-]+):/g)].map((match) => [match[1], gcpSecretValues[match[2]] ?? '']),
);

// ---- ECS: the task definitions and the secrets as created
type ContainerDefinition = {
  command?: string[];
  portMappings: { containerPort: number }[];
  environment: { name: string; value: string }[];
  secrets: { name: string; valueFrom: string }[];
  healthCheck: { command: string[] };
};
const taskDefinitions: Record<string, ContainerDefinition> = Object.fromEntries(
  [...ecs.matchAll(/cat > ([\w-]+)\.json <<EOF\n([\s\S]*?)\nEOF/g)].map((match) => {
    // Variables inside JSON strings become a placeholder; one outside a string (an optional entry) becomes nothing.
    const json = match[2].replace(/"[^"\n]*"/g, (literal) => expandShell(literal)).replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, '');
    const definition = JSON.parse(json) as { containerDefinitions: ContainerDefinition[] };
    return [match[1], definition.containerDefinitions[0]];
  }),
);
/** abs/NAME → its value: each `create-secret --name abs/NAME` reads the secret.txt written just before it. */
const awsSecretValues: Env = {};
{
  let current = '';
  for (const line of commands(ecs)) {
    const written = /^printf %s (["'])(.*?)\1 > secret\.txt$/.exec(line);
    if (written) current = expandShell(written[2]);
    else if (/> secret\.txt$/.test(line)) current = HEX;
    const created = /create-secret --name abs\/([A-Z_]+)/.exec(line);
    if (created) awsSecretValues[created[1]] = current;
  }
}
const ecsEnv = (name: string): Env => {
  const container = taskDefinitions[name];
  return {
    ...Object.fromEntries(container.environment.map((entry) => [entry.name, entry.value])),
    ...Object.fromEntries(container.secrets.map((entry) => [entry.name, awsSecretValues[entry.name] ?? ''])),
  };
};

// ---- compose: the services that run the app's image, with compose's ${VAR:-default} interpolation
type ComposeService = { image?: string; command?: string[]; environment?: Env; ports?: string[] };
const compose = parse(composeText, { merge: true }) as { services: Record<string, ComposeService> };
const appServices = Object.entries(compose.services).filter(([, service]) => service.image === 'ai-backend-service:local');
const composeEnv = (service: ComposeService): Env =>
  Object.fromEntries(
    Object.entries(service.environment ?? {}).map(([name, value]) => [name, String(value).replace(/\$\{\w+(?::?-([^}]*))?\}/g, (_all, fallback: string | undefined) => fallback ?? '')]),
  );

const dockerfile = readFileSync('Dockerfile', 'utf8');
const imagePort = /\bPORT=(\d+)/.exec(dockerfile)?.[1];
const npmScript = (name: string): string[] => (pkg.scripts as Record<string, string>)[name].split(' ');

/** Every variable each source sets, for the name check. */
const setVariables: { source: string; names: string[] }[] = [
  ...Object.entries(guides).flatMap(([file, text]) => [
    { source: `${file}: Environment table`, names: tableVariables(text) },
    { source: `${file}: --set-env-vars/--update-env-vars`, names: Object.keys(envFlags(text)) },
    { source: `${file}: secrets`, names: secretVariables(text) },
    { source: `${file}: "name" entries`, names: [...text.matchAll(/\\?"name\\?": ?\\?"([A-Z][A-Z0-9_]*)\\?"/g)].map((match) => match[1]) },
  ]),
  ...Object.entries(envFiles).map(([name, env]) => ({ source: `docs/deploy-cloud-run.md: ${name}.env.yaml`, names: Object.keys(env) })),
  ...appServices.map(([name, service]) => ({ source: `compose.yaml: ${name}`, names: Object.keys(service.environment ?? {}) })),
];

describe('the deploy guides and compose.yaml set only variables the code reads', () => {
  it('finds what it checks (the extraction itself works)', () => {
    expect(Object.keys(envFiles).sort()).toEqual(['api', 'worker']);
    expect(Object.keys(gcpSecretValues).sort()).toEqual(['abs-database-url', 'abs-metrics-token', 'abs-redis-url', 'abs-smtp-url']);
    expect(Object.keys(taskDefinitions).sort()).toEqual(['abs-api', 'abs-worker']);
    expect(Object.keys(awsSecretValues).sort()).toEqual(['DATABASE_URL', 'METRICS_TOKEN', 'REDIS_URL', 'SMTP_URL']);
    expect(appServices.map(([name]) => name).sort()).toEqual(['api', 'migrate', 'worker']);
    for (const text of Object.values(guides)) expect(tableVariables(text).length).toBeGreaterThan(15);
  });

  it.each(setVariables)('$source', ({ names }) => {
    const known = new Set([...configVariables, ...Object.keys(READ_ELSEWHERE)]);
    expect(names.filter((name) => !known.has(name))).toEqual([]);
  });

  it('the variables read elsewhere are read where the list says', () => {
    for (const [name, file] of Object.entries(READ_ELSEWHERE)) expect(readFileSync(file, 'utf8')).toContain(name);
  });
});

describe('the values they set are ones server/config.ts accepts', () => {
  const processes: { name: string; env: Env }[] = [
    { name: 'Cloud Run API (api.env.yaml + secrets)', env: { ...envFiles.api, ...gcpSecretEnv } },
    { name: 'Cloud Run worker (worker.env.yaml + secrets)', env: { ...envFiles.worker, ...gcpSecretEnv } },
    { name: 'Cloud Run jobs (env flags + DATABASE_URL)', env: { ...envFlags(cloudRun), DATABASE_URL: gcpSecretEnv.DATABASE_URL } },
    { name: 'ECS API task definition', env: ecsEnv('abs-api') },
    { name: 'ECS worker task definition', env: ecsEnv('abs-worker') },
    { name: 'ECS redis secret', env: { REDIS_URL: awsSecretValues.REDIS_URL } },
    ...appServices.map(([name, service]) => ({ name: `compose ${name}`, env: composeEnv(service) })),
  ];
  it.each(processes)('$name', ({ env }) => {
    expect(() => loadConfig(env)).not.toThrow();
    // loadConfig ignores empty values: only compose's "unset unless given" REDIS_URL may be empty.
    expect(Object.entries(env).filter(([name, value]) => value === '' && name !== 'REDIS_URL')).toEqual([]);
  });

  it('SMTP on port 587 requires STARTTLS; 465 is smtps://', () => {
    const urls = [gcpSecretValues['abs-smtp-url'], awsSecretValues.SMTP_URL];
    for (const url of urls) {
      const { protocol, port, searchParams } = new URL(url);
      if (port === '587') expect(searchParams.get('requireTLS')).toBe('true');
      if (port === '465') expect(protocol).toBe('smtps:');
    }
  });

  it('REDIS_URL reaches only the API: no job uses Redis', () => {
    expect(envFiles.worker).not.toHaveProperty('REDIS_URL');
    expect(/WORKER_SECRETS="[^"]*REDIS_URL/.test(cloudRun)).toBe(false);
    expect(/worker-pools deploy[^\n]*REDIS_URL/.test(commands(cloudRun).join('\n'))).toBe(false);
    expect(taskDefinitions['abs-worker'].secrets.map((entry) => entry.name)).not.toContain('REDIS_URL');
    expect(composeEnv(compose.services.worker)).not.toHaveProperty('REDIS_URL');
    const jobSources = ['jobs/worker.ts', 'jobs/queue.ts', 'jobs/define.ts', 'jobs/registry.ts', ...readdirJobs()].map((file) => readFileSync(file, 'utf8'));
    for (const source of jobSources) expect(source).not.toMatch(/redis|rateLimits|\bcache\b/i);
  });

  it('secrets are pinned to versions, never :latest', () => {
    expect(commands(cloudRun).filter((line) => /--set-secrets/.test(line) && /:latest\b/.test(line))).toEqual([]);
    for (const definition of Object.values(taskDefinitions)) {
      for (const secret of definition.secrets) expect(secret.valueFrom).toMatch(/:::placeholder$/);
    }
  });
});

function readdirJobs(): string[] {
  return ['maintenance', 'password-reset-email', 'run-task', 'welcome-email'].map((name) => `jobs/definitions/${name}.ts`);
}

describe('ports and commands they name match the code', () => {
  const workerPort = envFiles.worker.WORKER_PORT;

  it('the API listens on the image PORT everywhere a guide or compose names its port', () => {
    expect(imagePort).toBe(String(loadConfig({}).PORT));
    const cloudRunApi = commands(cloudRun).find((line) => line.startsWith('gcloud run deploy abs-api')) ?? '';
    expect(/--port (\d+)/.exec(cloudRunApi)?.[1]).toBe(imagePort);
    expect([...cloudRunApi.matchAll(/httpGet\.port=(\d+)/g)].map((match) => match[1])).toEqual([imagePort, imagePort]);
    expect(taskDefinitions['abs-api'].portMappings.map((mapping) => String(mapping.containerPort))).toEqual([imagePort]);
    const targetGroup = commands(ecs).find((line) => line.includes('create-target-group')) ?? '';
    expect(/--port (\d+)/.exec(targetGroup)?.[1]).toBe(imagePort);
    expect(commands(ecs).filter((line) => line.includes('--load-balancers')).map((line) => /containerPort=(\d+)/.exec(line)?.[1])).toEqual([imagePort]);
    expect(commands(ecs).filter((line) => line.includes('--source-group $ALB_SG')).map((line) => /--port (\d+)/.exec(line)?.[1])).toEqual([imagePort]);
    expect(compose.services.api.ports?.map((mapping) => mapping.split(':').at(-1))).toEqual([imagePort]);
  });

  it('the worker serves its probes on WORKER_PORT, and the health check probes that port', () => {
    expect(workerPort).toBe(String(loadConfig({}).WORKER_PORT));
    const workerService = commands(cloudRun).find((line) => line.startsWith('gcloud run deploy abs-worker')) ?? '';
    expect(/--port (\d+)/.exec(workerService)?.[1]).toBe(workerPort);
    expect([...workerService.matchAll(/httpGet\.port=(\d+)/g)].map((match) => match[1])).toEqual([workerPort, workerPort]);
    const worker = ecsEnv('abs-worker');
    expect([worker.WORKER_PORT, worker.HEALTHCHECK_PORT]).toEqual([workerPort, workerPort]);
    expect(taskDefinitions['abs-worker'].portMappings.map((mapping) => String(mapping.containerPort))).toEqual([workerPort]);
    const composeWorker = composeEnv(compose.services.worker);
    expect([composeWorker.WORKER_PORT, composeWorker.HEALTHCHECK_PORT]).toEqual([workerPort, workerPort]);
  });

  it('the process commands are the npm scripts', () => {
    const worker = npmScript('worker');
    expect(taskDefinitions['abs-worker'].command).toEqual(worker);
    expect(compose.services.worker.command).toEqual(worker);
    const argsFlags = [...cloudRun.matchAll(/--args=(node,[^\s]+)/g)].map((match) => match[1].split(','));
    expect(argsFlags.length).toBeGreaterThanOrEqual(2);
    for (const args of argsFlags) expect(args).toEqual(worker);
    const api = JSON.parse(/^CMD (.*)$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
    expect(api).toEqual(npmScript('start'));
    expect(compose.services.migrate.command).toEqual(npmScript('db:migrate'));
    for (const definition of Object.values(taskDefinitions)) expect(definition.healthCheck.command.slice(1)).toEqual(['node', 'scripts/healthcheck.ts']);
  });

  it('every source file and npm script a guide names exists', () => {
    for (const text of Object.values(guides)) {
      for (const [file] of text.matchAll(/\b(?:server|jobs|scripts|db)\/[\w./-]+\.ts\b/g)) expect(existsSync(file), file).toBe(true);
      for (const [, script] of text.matchAll(/npm run ([\w:-]+)/g)) expect(Object.keys(pkg.scripts)).toContain(script);
    }
  });
});

/** The HTTP paths the guides name: probes, metrics, procedures. */
const namedPaths = [...new Set(Object.values(guides).flatMap((text) => [...text.matchAll(/\/(?:health\/[a-z]+|metrics|trpc\/[A-Za-z.]+)\b/g)].map((match) => match[0])))];
const TOKEN = 'deploy-guides-metrics-token-0123456789';

describe.each(dialects)('the paths the guides name answer on %s', (dialect) => {
  const deps = useTestDeps(dialect, { env: { METRICS_TOKEN: TOKEN } });

  it('names the probes, /metrics and the health procedure', () => {
    expect(namedPaths).toEqual(expect.arrayContaining(['/health/live', '/health/ready', '/metrics', '/trpc/health.check']));
  });

  it('the API answers 200 on each', async () => {
    const server = await startTestServer(deps.current);
    try {
      for (const path of namedPaths) {
        const response = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
        await response.body?.cancel();
        expect(response.status, path).toBe(200);
      }
    } finally {
      await server.close();
    }
    // The first /metrics scrape starts the job queue (PGlite on SQLite): seconds alone, minutes on a loaded machine.
  });

  it("the worker's server answers 200 on the probes and /metrics", async () => {
    const ops = await listen(createOpsApp(deps.current, { shuttingDown: false }), '127.0.0.1', 0);
    try {
      for (const path of namedPaths.filter((name) => !name.startsWith('/trpc/'))) {
        const response = await fetch(`${ops.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
        await response.body?.cancel();
        expect(response.status, path).toBe(200);
      }
    } finally {
      await drain(ops.server, 1_000);
    }
  });
});
