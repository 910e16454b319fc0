// auth.*: registration, login and logout, the current user, sessions and password changes.
import { z } from 'zod';
import { authedProcedure, publicProcedure, rateLimit, router, sessionProcedure } from '../trpc/init.ts';
import { changePassword, login, register } from '../services/auth.ts';
import { requestPasswordReset, resetPassword } from '../services/password-reset.ts';
import { deleteSession, deleteUserSessions, listSessions, revokeSession } from '../services/sessions.ts';
import { Email, FullName, Id, Ok, Password, User, Username } from '../schemas.ts';

/** `token` is null when the caller asked for `cookieOnly`: the session is then in the HttpOnly cookie alone. */
const LoggedIn = z.object({ user: User, token: z.string().nullable(), expiresAt: z.date() });

/** Leave the token out of the response (the session cookie carries it), so page scripts never see it. */
const CookieOnly = z.boolean().optional();

const Session = z.object({
  id: z.string(),
  createdAt: z.date(),
  lastUsedAt: z.date(),
  expiresAt: z.date(),
  userAgent: z.string().nullable(),
  ip: z.string().nullable(),
  current: z.boolean(),
});

export const authRouter = router({
  register: publicProcedure
    .meta({
      rest: {
        method: 'POST',
        path: '/auth/register',
        status: 201,
        summary: 'Create an account and sign in',
        description:
          'Returns the new user and a session token to send as `Authorization: Bearer <token>`, and sets the session cookie. ' +
          'With `cookieOnly: true` the token is left out (`null`): the HttpOnly cookie alone carries the session (same-site browsers only).',
        errors: ['CONFLICT'],
      },
    })
    .use(rateLimit('register'))
    .input(z.object({ username: Username, email: Email, password: Password, fullName: FullName.optional(), cookieOnly: CookieOnly }))
    .output(LoggedIn)
    .mutation(async ({ ctx, input: { cookieOnly, ...input } }) => {
      const { user, session } = await register(ctx.deps, input, { ip: ctx.ip, userAgent: ctx.userAgent });
      ctx.sessionCookie.set(session.token, session.expiresAt);
      return { user, token: cookieOnly ? null : session.token, expiresAt: session.expiresAt };
    }),

  login: publicProcedure
    .meta({
      rest: {
        method: 'POST',
        path: '/auth/login',
        summary: 'Sign in with a username or e-mail and a password',
        description:
          'Returns a session token to send as `Authorization: Bearer <token>`, and sets the session cookie. ' +
          'With `cookieOnly: true` the token is left out (`null`): the HttpOnly cookie alone carries the session (same-site browsers only). ' +
          'Repeated failures lock the account for a while (429).',
        errors: ['UNAUTHORIZED', 'FORBIDDEN'],
      },
    })
    .use(rateLimit('login'))
    // Checked loosely: a login must not reveal which rules a stored username or password follows.
    .input(z.object({ usernameOrEmail: z.string().min(1).max(254), password: z.string().min(1).max(256), cookieOnly: CookieOnly }))
    .output(LoggedIn)
    .mutation(async ({ ctx, input: { cookieOnly, ...input } }) => {
      const { user, session } = await login(ctx.deps, input, { ip: ctx.ip, userAgent: ctx.userAgent });
      ctx.sessionCookie.set(session.token, session.expiresAt);
      return { user, token: cookieOnly ? null : session.token, expiresAt: session.expiresAt };
    }),

  logout: sessionProcedure
    .meta({ rest: { method: 'POST', path: '/auth/logout', summary: 'End the current session' } })
    .input(z.void())
    .output(Ok)
    .mutation(async ({ ctx }) => {
      await deleteSession(ctx.deps, ctx.session.id);
      ctx.sessionCookie.clear();
      return { ok: true as const };
    }),

  logoutAll: sessionProcedure
    .meta({ rest: { method: 'POST', path: '/auth/logout-all', summary: 'End every session of the current user' } })
    .input(z.void())
    .output(Ok)
    .mutation(async ({ ctx }) => {
      await deleteUserSessions(ctx.deps, ctx.user.id);
      ctx.sessionCookie.clear();
      return { ok: true as const };
    }),

  me: authedProcedure
    .meta({ rest: { method: 'GET', path: '/auth/me', summary: 'The signed-in user' } })
    .input(z.void())
    .output(User)
    .query(({ ctx }) => ctx.user),

  sessions: sessionProcedure
    .meta({ rest: { method: 'GET', path: '/auth/sessions', summary: 'The current user’s active sessions' } })
    .input(z.void())
    .output(z.array(Session))
    .query(({ ctx }) => listSessions(ctx.deps, ctx.user.id, ctx.session.id)),

  revokeSession: sessionProcedure
    .meta({
      rest: {
        method: 'DELETE',
        path: '/auth/sessions/{id}',
        summary: 'End one of the current user’s sessions',
        errors: ['NOT_FOUND'],
      },
    })
    .input(z.object({ id: Id }))
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      const { wasCurrent } = await revokeSession(ctx.deps, ctx.user.id, input.id, ctx.session.id);
      if (wasCurrent) ctx.sessionCookie.clear();
      return { ok: true as const };
    }),

  /** Always `{ ok: true }`: whether the address has an account is not revealed. */
  requestPasswordReset: publicProcedure
    .meta({
      rest: {
        method: 'POST',
        path: '/auth/password-reset/request',
        summary: 'E-mail a password reset link',
        description: 'Always succeeds: whether the address has an account is not revealed.',
      },
    })
    .use(rateLimit('passwordReset'))
    .input(z.object({ email: Email }))
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await requestPasswordReset(ctx.deps, input.email);
      return { ok: true as const };
    }),

  resetPassword: publicProcedure
    .meta({
      rest: {
        method: 'POST',
        path: '/auth/password-reset',
        summary: 'Set a new password with a reset token',
        description: 'Ends every session of the account, revokes its API tokens and uses up its other reset tokens. A token of an account deactivated since it was mailed is invalid.',
      },
    })
    .use(rateLimit('passwordReset'))
    .input(z.object({ token: z.string().min(1).max(200), newPassword: Password }))
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await resetPassword(ctx.deps, input);
      return { ok: true as const };
    }),

  changePassword: sessionProcedure
    .meta({
      rest: {
        method: 'POST',
        path: '/auth/password',
        summary: 'Change the current user’s password',
        description: 'Ends the user’s other sessions, revokes every API token of the account and uses up outstanding reset tokens. Wrong passwords count against a per-account and per-IP budget (429 once spent).',
      },
    })
    .input(z.object({ currentPassword: z.string().min(1).max(256), newPassword: Password }))
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await changePassword(ctx.deps, ctx.user, { sessionId: ctx.session.id, ip: ctx.ip }, input);
      return { ok: true as const };
    }),
});
