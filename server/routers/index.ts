// The application router: one sub-router per domain, paths `domain.verb`.
import { router } from '../trpc/init.ts';
import { healthRouter } from './health.ts';

export const appRouter = router({
  health: healthRouter,
});

export type AppRouter = typeof appRouter;
