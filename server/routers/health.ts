// health.check: a cheap public query that says the API is up, which version, on which database.
import { z } from 'zod';
import { publicProcedure, router } from '../trpc/init.ts';
import { uptimeSeconds } from '../services/health.ts';

export const HealthStatus = z.object({
  status: z.literal('ok'),
  version: z.string(),
  dialect: z.enum(['sqlite', 'postgres']),
  uptimeSeconds: z.number().int().nonnegative(),
});

export const healthRouter = router({
  check: publicProcedure
    .meta({ rest: { method: 'GET', path: '/health', summary: 'Service status, version and database dialect' } })
    .input(z.void())
    .output(HealthStatus)
    .query(({ ctx }) => ({
      status: 'ok' as const,
      version: ctx.deps.version,
      dialect: ctx.deps.db.dialect,
      uptimeSeconds: uptimeSeconds(),
    })),
});
