// The application router: one sub-router per domain, paths `domain.verb`.
import { router } from '../trpc/init.ts';
import { adminRouter } from './admin.ts';
import { apiTokensRouter } from './api-tokens.ts';
import { authRouter } from './auth.ts';
import { healthRouter } from './health.ts';
import { jobsRouter } from './jobs.ts';
import { postsRouter } from './posts.ts';
import { tasksRouter } from './tasks.ts';
import { usersRouter } from './users.ts';

export const appRouter = router({
  health: healthRouter,
  auth: authRouter,
  apiTokens: apiTokensRouter,
  users: usersRouter,
  posts: postsRouter,
  tasks: tasksRouter,
  admin: adminRouter,
  jobs: jobsRouter,
});

export type AppRouter = typeof appRouter;
