// Graceful shutdown: in-flight requests finish, stragglers are cut at the deadline, and the process exits 0.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { drain, listen } from './server.ts';

function slowApp(ms: number) {
  const app = express();
  app.get('/slow', (_req, res) => {
    setTimeout(() => res.json({ done: true }), ms);
  });
  app.get('/fast', (_req, res) => res.json({ done: true }));
  return app;
}

describe('drain', () => {
  it('lets an in-flight request finish and refuses new connections', async () => {
    const { server, url } = await listen(slowApp(300), '127.0.0.1', 0);
    await fetch(`${url}/fast`); // leaves an idle keep-alive connection behind
    const inFlight = fetch(`${url}/slow`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const drained = drain(server, 5000);
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ done: true });
    expect(await drained).toBe(true);
    await expect(fetch(`${url}/fast`)).rejects.toThrow();
  });

  it('cuts requests still running at the deadline', async () => {
    const { server, url } = await listen(slowApp(10_000), '127.0.0.1', 0);
    const inFlight = fetch(`${url}/slow`).then(
      () => 'answered',
      () => 'cut',
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    expect(await drain(server, 300)).toBe(false);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await inFlight).toBe('cut');
  });
});

describe('server process', () => {
  it('serves on the embedded database, then exits 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'server-'));
    const child = spawn(process.execPath, ['server/main.ts'], {
      env: { PATH: process.env.PATH, PORT: '0', DATABASE_URL: `file:${join(dir, 'app.db')}`, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const messages: Record<string, unknown>[] = [];
      createInterface({ input: child.stdout }).on('line', (line) => messages.push(JSON.parse(line) as Record<string, unknown>));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      // The embedded default starts PGlite (Postgres in WASM) for the jobs: seconds, more on a busy machine.
      await expect.poll(() => messages.find((entry) => entry.msg === 'listening'), { timeout: 45_000 }).toBeDefined();
      const url = messages.find((entry) => entry.msg === 'listening')?.url as string;
      expect((await fetch(`${url}/health/ready`)).status).toBe(200);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(messages.map((entry) => entry.msg)).toEqual(expect.arrayContaining(['listening', 'shutting down', 'stopped']));
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
