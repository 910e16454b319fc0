// Listening and draining: the HTTP half of graceful shutdown.
import type * as Http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import type { Express } from 'express';

// Required, not imported: an ES import of node:http builds its module namespace, which reads the module's lazy
// WebSocket getters and so loads undici (60-80 ms of every start here, for nothing we use). Tracing's http
// instrumentation patches the module through require as well.
const { createServer } = createRequire(import.meta.url)('node:http') as typeof Http;

export async function listen(app: Express, host: string, port: number): Promise<{ server: Http.Server; url: string }> {
  const server = createServer(app);
  // Longer than the usual load balancer idle timeout (60 s), so the balancer closes idle connections first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { server, url: `http://${shownHost}:${address.port}` };
}

/**
 * Stops accepting connections, closes idle keep-alive ones, lets in-flight requests finish, and at the
 * deadline cuts whatever is left. Resolves true when everything finished in time.
 */
export async function drain(server: Http.Server, deadlineMs: number): Promise<boolean> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // Connections that finish a request during the drain become idle; close them as they do.
  const sweep = setInterval(() => server.closeIdleConnections(), 100);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), deadlineMs)));
  try {
    const finished = await Promise.race([closed.then(() => true as const), deadline]);
    if (!finished) {
      server.closeAllConnections();
      await closed;
    }
    return finished;
  } finally {
    clearInterval(sweep);
    clearTimeout(timer);
  }
}
