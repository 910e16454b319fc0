// Load shedding: while the event loop lags past OVERLOAD_EVENT_LOOP_DELAY_MS, API requests get a quick 503 with
// Retry-After; the liveness probe still answers; once the lag is gone requests are served again by themselves.
import { describe, expect, it } from 'vitest';
import { dialects, useTestServer } from '../testing/harness.ts';
import { rest } from '../testing/http.ts';

/** Keeps this process (which runs the server too) busy: every request and timer waits, as under overload. */
function blockEventLoop(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

describe.each(dialects)('load shedding on %s', (dialect) => {
  const app = useTestServer(dialect, { env: { OVERLOAD_EVENT_LOOP_DELAY_MS: '100' } });

  it('refuses API requests with 503 and Retry-After while the event loop lags, keeps /health/live, and recovers', async () => {
    // Served once the loop is calm: on a loaded machine this process's own start-up can lag it past the 100 ms.
    await expect.poll(async () => (await rest(app.url, 'GET', '/api/health')).status, { interval: 100 }).toBe(200);

    // Stall the loop again and again (as a flood of work would) while requests come in between the stalls.
    let stalling = true;
    const stalls = (async () => {
      while (stalling) {
        blockEventLoop(250);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    try {
      await expect.poll(async () => (await rest(app.url, 'GET', '/api/health')).status, { interval: 0 }).toBe(503);
      const shed = await rest<{ error: { code: string; message: string } }>(app.url, 'GET', '/api/health');
      expect(shed.status).toBe(503);
      expect(shed.headers.get('retry-after')).toBe('1');
      expect(shed.body.error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', message: 'the server is overloaded; retry shortly' });
      // tRPC clients get their own error shape; the liveness probe is served throughout.
      const trpc = await fetch(`${app.url}/trpc/health.check`);
      expect(trpc.status).toBe(503);
      expect(((await trpc.json()) as { error: { json: { data: { code: string } } } }).error.json.data.code).toBe('SERVICE_UNAVAILABLE');
      expect((await fetch(`${app.url}/health/live`)).status).toBe(200);
    } finally {
      stalling = false;
      await stalls;
    }

    // Without the stalls the lag falls and requests are served again, with nothing else done.
    await expect.poll(async () => (await rest(app.url, 'GET', '/api/health')).status, { interval: 100 }).toBe(200);
    const metrics = await app.deps.metrics.registry.getSingleMetricAsString('http_requests_shed_total');
    expect(Number(/http_requests_shed_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2);
  });
});
