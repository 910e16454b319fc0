// Draining: in-flight requests finish, stragglers are cut at the deadline. (Whole processes: telemetry/tracing.test.ts
// and scripts/container.test.ts.)
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
