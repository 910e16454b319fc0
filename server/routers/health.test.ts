// Example of the two ways to test a procedure: createCaller directly, and a real client over HTTP.
import { describe, expect, it } from 'vitest';
import { createTRPCClient, httpBatchLink } from '@trpc/client';
import superjson from 'superjson';
import type { AppRouter } from './index.ts';
import { callerFor, dialects, startTestServer, useTestDeps } from '../testing/harness.ts';

describe.each(dialects)('health.check on %s', (dialect) => {
  // A fresh migrated database for this file and dialect; closed after the block.
  const deps = useTestDeps(dialect);

  it('answers through createCaller', async () => {
    const health = await callerFor(deps.current).health.check();
    expect(health).toEqual({ status: 'ok', version: deps.current.version, dialect, uptimeSeconds: expect.any(Number) });
  });

  it('answers a typed tRPC client over HTTP', async () => {
    const server = await startTestServer(deps.current);
    try {
      const client = createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: `${server.url}/trpc`, transformer: superjson })] });
      const [first, second] = await Promise.all([client.health.check.query(), client.health.check.query()]);
      expect(first.dialect).toBe(dialect);
      expect(second.status).toBe('ok');
    } finally {
      await server.close();
    }
  });
});
