// initTRPC, once: the builders every router uses. Procedures are public, authed or admin; nothing else.
import { initTRPC } from '@trpc/server';
import superjson from 'superjson';
import type { Context } from './context.ts';
import { formatError, toClientError } from './errors.ts';

const t = initTRPC.context<Context>().create({
  transformer: superjson,
  // Stacks go to the log, never into responses, in every environment.
  isDev: false,
  errorFormatter: ({ shape, error, ctx }) => formatError({ shape, error, requestId: ctx?.state.requestId }),
});

export const router = t.router;
export const middleware = t.middleware;
export const createCallerFactory = t.createCallerFactory;

/** Converts domain errors thrown below it into tRPC errors, so callers and HTTP see the right code. */
const domainErrors = t.middleware(async ({ next }) => {
  const result = await next();
  return result.ok ? result : { ...result, error: toClientError(result.error) };
});

export const publicProcedure = t.procedure.use(domainErrors);
