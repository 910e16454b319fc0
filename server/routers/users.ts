// users.*: public profiles, self-service, and admin management of accounts.
import { z } from 'zod';
import { adminProcedure, authedProcedure, publicProcedure, router, sessionProcedure } from '../trpc/init.ts';
import { createUserByAdmin, deleteMe, deleteUser, getPublicUser, getUserWithPosts, listUsers, updateMe, updateUser } from '../services/users.ts';
import { Email, FullName, Id, Ok, page, pagination, Password, PublicUser, Role, User, Username, UserWithPosts } from '../schemas.ts';

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

  create: adminProcedure
    .meta({
      rest: {
        method: 'POST',
        path: '/users',
        status: 201,
        summary: 'Create a user (admin)',
        description:
          'With a `password`, the user gets the welcome e-mail; without one, a set-password e-mail (a single-use link through the password-reset flow, valid for an hour). A taken username or e-mail is a 409 naming the field.',
        errors: ['CONFLICT'],
      },
    })
    .input(z.object({ username: Username, email: Email, fullName: FullName.optional(), role: Role.default('user'), password: Password.optional() }))
    .output(User)
    .mutation(({ ctx, input }) => createUserByAdmin(ctx.deps, input)),

  update: adminProcedure
    .meta({
      rest: {
        method: 'PATCH',
        path: '/users/{id}',
        summary: 'Change a user’s name, e-mail, role or active state (admin)',
        description:
          'Only the fields sent change. A taken e-mail is a 409 naming the field; the last active admin cannot be demoted or deactivated (409); an admin cannot deactivate their own account (403). A new e-mail takes a session, not an API token, and an admin’s own goes through `PATCH /users/me` (403). Deactivation ends the user’s sessions and mailed reset links, and API tokens stop working until reactivation; a new e-mail address uses up reset links and the previous address is told.',
        errors: ['NOT_FOUND', 'CONFLICT'],
      },
    })
    .input(z.object({ id: Id, fullName: FullName.nullable().optional(), email: Email.optional(), role: Role.optional(), isActive: z.boolean().optional() }))
    .output(User)
    .mutation(({ ctx, input }) => {
      const { id, ...changes } = input;
      return updateUser(ctx.deps, { id: ctx.user.id, viaSession: ctx.auth.kind === 'session' }, id, changes);
    }),

  setActive: adminProcedure
    .meta({
      rest: {
        method: 'PUT',
        path: '/users/{id}/active',
        summary: 'Activate or deactivate a user (admin)',
        description: 'The same rules as `PATCH /users/{id}` with `isActive`.',
        errors: ['NOT_FOUND', 'CONFLICT'],
      },
    })
    .input(z.object({ id: Id, isActive: z.boolean() }))
    .output(User)
    .mutation(({ ctx, input }) => updateUser(ctx.deps, ctx.user, input.id, { isActive: input.isActive })),

  setRole: adminProcedure
    .meta({ rest: { method: 'PUT', path: '/users/{id}/role', summary: 'Change a user’s role (admin)', errors: ['NOT_FOUND', 'CONFLICT'] } })
    .input(z.object({ id: Id, role: Role }))
    .output(User)
    .mutation(({ ctx, input }) => updateUser(ctx.deps, ctx.user, input.id, { role: input.role })),

  delete: adminProcedure
    .meta({
      rest: { method: 'DELETE', path: '/users/{id}', summary: 'Delete a user (admin)', description: 'An admin cannot delete their own account this way (403): `POST /users/me/delete` takes its password.', errors: ['NOT_FOUND', 'CONFLICT'] },
    })
    .input(z.object({ id: Id }))
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await deleteUser(ctx.deps, input.id, ctx.user);
      return { ok: true as const };
    }),
});
