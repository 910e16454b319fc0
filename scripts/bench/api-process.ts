// An API process for a bench suite of its own (overload, soak): `npm start`'s node arguments, production mode,
// rate limits out of the way, stdout quiet; resolves once /health/ready answers 200.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { SERVER_NODE_ARGS } from '../../server/runtime/node-args.ts';
import { stopChild } from './proc.ts';
import { freePort } from '../../server/testing/ports.ts';

const root = join(import.meta.dirname, '..', '..');

export type BenchApi = { url: string; child: ChildProcess; stop: () => Promise<void> };

export async function startBenchApi(env: Record<string, string>): Promise<BenchApi> {
  const port = await freePort();
  const child = spawn(process.execPath, [...SERVER_NODE_ARGS, 'server/main.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      PORT: String(port),
      RATE_LIMIT_GLOBAL_PER_MINUTE: '1000000',
      RATE_LIMIT_LOGIN_PER_MINUTE: '1000000',
      RATE_LIMIT_LOGIN_FAILURES_PER_MINUTE: '1000000',
      RATE_LIMIT_REGISTER_PER_MINUTE: '1000',
      RATE_LIMIT_PASSWORD_CHECKS_PER_MINUTE: '1000000',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  while ((await fetch(`${url}/health/ready`).then((response) => response.status, () => 0)) !== 200) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('the API did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { url, child, stop: () => stopChild(child) };
}
