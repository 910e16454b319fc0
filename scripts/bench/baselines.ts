// Baseline servers for the benchmark, one per process: `node baselines.ts <kind> <port> [database]`.
//   express         (a) a plain express route returning the same JSON as health.check
//   trpc            (b) tRPC's own express adapter, no other middleware, a trivial query
//   me-sqlite FILE  auth.me done by hand: hash the bearer token, one query with better-sqlite3, JSON out
//   me-sqlite-once FILE  the same, its parameter written +? as our SQLite driver writes them (db/sqlite-plan-once.ts)
//   me-pg URL       the same with a pg Pool
import express, { type Request, type Response } from 'express';
import { initTRPC } from '@trpc/server';
import { createExpressMiddleware } from '@trpc/server/adapters/express';
import superjson from 'superjson';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { hashToken } from '../../server/services/tokens.ts';
import { planOnce } from '../../db/sqlite-plan-once.ts';

const [kind, portArg, database] = process.argv.slice(2);
const started = Date.now();
/** The same body as health.check, so only the stack in front of it differs. */
const health = () => ({ status: 'ok' as const, version: '0.1.0', dialect: 'sqlite' as const, uptimeSeconds: Math.floor((Date.now() - started) / 1000) });

const ME_SQL = `select u.id, u.username, u.email, u.full_name, u.role, u.is_active, u.created_at, s.expires_at
  from sessions s join users u on u.id = s.user_id where s.id = `;

const app = express();
app.disable('x-powered-by');

function meRoute(lookup: (id: string) => Promise<Record<string, unknown> | undefined>) {
  return async (req: Request, res: Response) => {
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const row = token ? await lookup(hashToken(token)) : undefined;
    if (!row) return void res.status(401).json({ error: 'not authenticated' });
    res.json(row);
  };
}

if (kind === 'express') {
  app.get('/trpc/health.check', (_req, res) => {
    res.json({ result: { data: { json: health() } } });
  });
} else if (kind === 'trpc') {
  const t = initTRPC.create({ transformer: superjson });
  const router = t.router({ health: t.router({ check: t.procedure.query(health) }) });
  app.use('/trpc', createExpressMiddleware({ router }));
} else if (kind === 'me-sqlite' || kind === 'me-sqlite-once') {
  const db = new BetterSqlite3(database, { readonly: true });
  const statement = db.prepare(kind === 'me-sqlite' ? `${ME_SQL}?` : planOnce(`${ME_SQL}?`));
  app.get('/trpc/auth.me', meRoute(async (id) => statement.get(id) as Record<string, unknown> | undefined));
} else if (kind === 'me-pg') {
  const pool = new pg.Pool({ connectionString: database, max: 10 });
  app.get('/trpc/auth.me', meRoute(async (id) => (await pool.query(`${ME_SQL}$1`, [id])).rows[0] as Record<string, unknown> | undefined));
} else {
  throw new Error(`unknown baseline "${kind}"`);
}
app.listen(Number(portArg), '127.0.0.1');
