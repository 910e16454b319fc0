// apiTokens.*: long-lived bearer tokens for programs; managing them takes a session.
import { z } from 'zod';
import { router, sessionProcedure } from '../trpc/init.ts';
import { createApiToken, listApiTokens, revokeApiToken } from '../services/api-tokens.ts';
import { Id, Ok } from '../schemas.ts';

const ApiToken = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  createdAt: z.date(),
  lastUsedAt: z.date().nullable(),
  expiresAt: z.date().nullable(),
});

export const apiTokensRouter = router({
  /** The token is in this response only; afterwards only its prefix is shown. */
  create: sessionProcedure
    .meta({
      rest: {
        method: 'POST',
        path: '/api-tokens',
        status: 201,
        summary: 'Create an API token',
        description: 'The token is in this response only; afterwards only its prefix is shown. Needs a session token, not an API token.',
      },
    })
    .input(z.object({ name: z.string().trim().min(1).max(100), expiresInDays: z.number().int().min(1).max(3650).optional() }))
    .output(ApiToken.extend({ token: z.string() }))
    .mutation(({ ctx, input }) => createApiToken(ctx.deps, ctx.user.id, input)),

  list: sessionProcedure
    .meta({ rest: { method: 'GET', path: '/api-tokens', summary: 'The current user’s API tokens (prefixes only)' } })
    .input(z.void())
    .output(z.array(ApiToken))
    .query(({ ctx }) => listApiTokens(ctx.deps, ctx.user.id)),

  revoke: sessionProcedure
    .meta({ rest: { method: 'DELETE', path: '/api-tokens/{id}', summary: 'Revoke an API token', errors: ['NOT_FOUND'] } })
    .input(z.object({ id: Id }))
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await revokeApiToken(ctx.deps, ctx.user.id, input.id);
      return { ok: true as const };
    }),
});
