// posts.*: writing, reading and searching posts; drafts are visible to their author and admins only.
import { z } from 'zod';
import { authedProcedure, publicProcedure, router } from '../trpc/init.ts';
import type { Context } from '../trpc/context.ts';
import { idempotently } from '../services/idempotency.ts';
import { createPost, deletePost, getPost, listPosts, updatePost, type Viewer } from '../services/posts.ts';
import { Id, Ok, page, pagination, Post, PostBody, PostSummary, PostTitle } from '../schemas.ts';

/** The caller if signed in (public reads show drafts to their author); invalid credentials read as anonymous. */
async function viewerOf(ctx: Context): Promise<Viewer> {
  const auth = await ctx.authenticate();
  return auth?.user.isActive ? { id: auth.user.id, role: auth.user.role } : null;
}

export const postsRouter = router({
  create: authedProcedure
    .meta({
      rest: {
        method: 'POST',
        path: '/posts',
        status: 201,
        summary: 'Write a post',
        description: 'With an `Idempotency-Key` header a repeat of the request (same key and body) gets the first response instead of a second post.',
        errors: ['CONFLICT'],
        idempotent: true,
      },
    })
    .input(z.object({ title: PostTitle, body: PostBody, published: z.boolean().optional() }))
    .output(Post)
    .mutation(({ ctx, input }) => idempotently(ctx.deps, { userId: ctx.user.id, procedure: 'posts.create', key: ctx.idempotencyKey, input }, () => createPost(ctx.deps, ctx.user, input))),

  update: authedProcedure
    .meta({ rest: { method: 'PATCH', path: '/posts/{id}', summary: 'Edit a post (its author)', errors: ['NOT_FOUND'] } })
    .input(z.object({ id: Id, title: PostTitle.optional(), body: PostBody.optional(), published: z.boolean().optional() }))
    .output(Post)
    .mutation(({ ctx, input: { id, ...changes } }) => updatePost(ctx.deps, ctx.user, id, changes)),

  delete: authedProcedure
    .meta({ rest: { method: 'DELETE', path: '/posts/{id}', summary: 'Delete a post (its author or an admin)', errors: ['NOT_FOUND'] } })
    .input(z.object({ id: Id }))
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await deletePost(ctx.deps, ctx.user, input.id);
      return { ok: true as const };
    }),

  get: publicProcedure
    .meta({
      rest: {
        method: 'GET',
        path: '/posts/{id}',
        summary: 'Read a post',
        description: 'Drafts are visible to their author and admins only.',
        errors: ['NOT_FOUND'],
        optionalAuth: true,
      },
    })
    .input(z.object({ id: Id }))
    .output(Post)
    .query(async ({ ctx, input }) => getPost(ctx.deps, await viewerOf(ctx), input.id)),

  list: publicProcedure
    .meta({
      rest: {
        method: 'GET',
        path: '/posts',
        summary: 'Search and page through posts',
        description: '`q` matches words in titles and bodies. Signed-in callers also see their own drafts; admins see all.',
        optionalAuth: true,
      },
    })
    .input(
      pagination(20).extend({
        // Control characters are refused: search text joins title and body with one (SOH).
        q: z
          .string()
          .trim()
          .min(1)
          .max(200)
          .refine((q) => ![...q].some((char) => char.charCodeAt(0) < 0x20), 'must not contain control characters')
          .optional(),
        authorId: Id.optional(),
        published: z.boolean().optional(),
      }),
    )
    .output(page(PostSummary))
    .query(async ({ ctx, input }) => listPosts(ctx.deps, await viewerOf(ctx), input)),
});
