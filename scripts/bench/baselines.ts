// Baseline servers for the benchmark, one per process: `node baselines.ts <express|trpc> <port>`.
import express from 'express';
import { initTRPC } from '@trpc/server';
import { createExpressMiddleware } from '@trpc/server/adapters/express';
import superjson from 'superjson';

const [kind, portArg] = process.argv.slice(2);
const port = Number(portArg);
const started = Date.now();
/** The same body as health.check, so only the stack in front of it differs. */
const health = () => ({ status: 'ok' as const, version: '0.1.0', dialect: 'sqlite' as const, uptimeSeconds: Math.floor((Date.now() - started) / 1000) });

const app = express();
app.disable('x-powered-by');
if (kind === 'express') {
  // (a) a plain express route returning the same JSON
  app.get('/trpc/health.check', (_req, res) => {
    res.json({ result: { data: { json: health() } } });
  });
} else if (kind === 'trpc') {
  // (b) tRPC's own express adapter, no other middleware, a trivial query
  const t = initTRPC.create({ transformer: superjson });
  const router = t.router({ health: t.router({ check: t.procedure.query(health) }) });
  app.use('/trpc', createExpressMiddleware({ router }));
} else {
  throw new Error(`unknown baseline "${kind}"`);
}
app.listen(port, '127.0.0.1', () => process.send?.('ready'));
