// users.*: public profiles, self-service, and admin management of accounts.
import { z } from 'zod';
import { adminProcedure, authedProcedure, publicProcedure, router, sessionProcedure } from '../trpc/init.ts';
import { deleteMe, deleteUser, getPublicUser, getUserWithPosts, listUsers, setActive, setRole, updateMe } from '../services/users.ts';
import { Email, FullName, Id, Ok, page, pagination, PublicUser, Role, User, UserWithPosts } from '../schemas.ts';

export const usersRouter = router({
  get: publicProcedure
    .meta({ rest: { method: 'GET', path: '/users/{id}', summary: 'A user’s public profile', errors: ['NOT_FOUND'] } })
    .input(z.object({ id: Id }))
    .output(PublicUser)
    .query(({ ctx, input }) => getPublicUser(ctx.deps, input.id)),

  getWithPosts: publicProcedure
    .meta({
      rest: {
        method: 'GET',
        path: '/users/{id}/profile',
        summary: 'A user’s public profile with their latest published posts',
        errors: ['NOT_FOUND'],
      },
    })
    .input(z.object({ id: Id, postsLimit: z.number().int().min(1).max(50).default(10) }))
    .output(UserWithPosts)
    .query(({ ctx, input }) => getUserWithPosts(ctx.deps, input.id, input.postsLimit)),

  updateMe: authedProcedure
    .meta({
      rest: {
        method: 'PATCH',
        path: '/users/me',
        summary: 'Update the signed-in user’s name or e-mail',
        description:
          'A new e-mail address takes a session (not an API token) and `currentPassword`; it is limited per client IP as tightly as registration, uses up outstanding password-reset links, and the previous address is told of the change. A taken address is a 409.',
        errors: ['NOT_FOUND', 'CONFLICT'],
      },
    })
    .input(z.object({ fullName: FullName.nullable().optional(), email: Email.optional(), currentPassword: z.string().min(1).max(256).optional() }))
    .output(User)
    .mutation(({ ctx, input }) => updateMe(ctx.deps, { user: ctx.user, viaSession: ctx.auth.kind === 'session', ip: ctx.ip }, input)),

  deleteMe: sessionProcedure
    .meta({
      rest: {
        method: 'POST',
        path: '/users/me/delete',
        summary: 'Delete the signed-in user’s account',
        description:
          'Takes the account’s password in the body (a POST: many clients and proxies drop the body of a DELETE). Wrong passwords count against a per-account and per-IP budget (429 once spent).',
        errors: ['NOT_FOUND', 'CONFLICT'],
      },
    })
    .input(z.object({ password: z.string().min(1).max(256) }))
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await deleteMe(ctx.deps, { userId: ctx.user.id, ip: ctx.ip }, input.password);
      ctx.sessionCookie.clear();
      return { ok: true as const };
    }),

  list: adminProcedure
    .meta({ rest: { method: 'GET', path: '/users', summary: 'Search and page through users (admin)' } })
    .input(
      pagination(100).extend({
        q: z.string().trim().min(1).max(100).optional(),
        role: Role.optional(),
        isActive: z.boolean().optional(),
      }),
    )
    .output(page(User))
    .query(({ ctx, input }) => listUsers(ctx.deps, input)),

  setActive: adminProcedure
    .meta({
      rest: {
        method: 'PUT',
        path: '/users/{id}/active',
        summary: 'Activate or deactivate a user (admin)',
        errors: ['NOT_FOUND', 'CONFLICT'],
      },
    })
    .input(z.object({ id: Id, isActive: z.boolean() }))
    .output(User)
    .mutation(({ ctx, input }) => setActive(ctx.deps, input.id, input.isActive)),

  setRole: adminProcedure
    .meta({ rest: { method: 'PUT', path: '/users/{id}/role', summary: 'Change a user’s role (admin)', errors: ['NOT_FOUND', 'CONFLICT'] } })
    .input(z.object({ id: Id, role: Role }))
    .output(User)
    .mutation(({ ctx, input }) => setRole(ctx.deps, input.id, input.role)),

  delete: adminProcedure
    .meta({ rest: { method: 'DELETE', path: '/users/{id}', summary: 'Delete a user (admin)', errors: ['NOT_FOUND', 'CONFLICT'] } })
    .input(z.object({ id: Id }))
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await deleteUser(ctx.deps, input.id);
      return { ok: true as const };
    }),
});
