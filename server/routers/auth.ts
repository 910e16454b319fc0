// auth.*: registration, login and logout, the current user, sessions and password changes.
import { z } from 'zod';
import { authedProcedure, publicProcedure, rateLimit, router, sessionProcedure } from '../trpc/init.ts';
import { changePassword, login, register } from '../services/auth.ts';
import { requestPasswordReset, resetPassword } from '../services/password-reset.ts';
import { deleteSession, deleteUserSessions, listSessions, revokeSession } from '../services/sessions.ts';
import { Email, FullName, Id, Ok, Password, User, Username } from '../schemas.ts';

const LoggedIn = z.object({ user: User, token: z.string(), expiresAt: z.date() });

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
    .use(rateLimit('register'))
    .input(z.object({ username: Username, email: Email, password: Password, fullName: FullName.optional() }))
    .output(LoggedIn)
    .mutation(async ({ ctx, input }) => {
      const { user, session } = await register(ctx.deps, input, { ip: ctx.ip, userAgent: ctx.userAgent });
      ctx.sessionCookie.set(session.token, session.expiresAt);
      return { user, token: session.token, expiresAt: session.expiresAt };
    }),

  login: publicProcedure
    .use(rateLimit('login'))
    // Checked loosely: a login must not reveal which rules a stored username or password follows.
    .input(z.object({ usernameOrEmail: z.string().min(1).max(254), password: z.string().min(1).max(256) }))
    .output(LoggedIn)
    .mutation(async ({ ctx, input }) => {
      const { user, session } = await login(ctx.deps, input, { ip: ctx.ip, userAgent: ctx.userAgent });
      ctx.sessionCookie.set(session.token, session.expiresAt);
      return { user, token: session.token, expiresAt: session.expiresAt };
    }),

  logout: sessionProcedure.input(z.void()).output(Ok).mutation(async ({ ctx }) => {
    await deleteSession(ctx.deps, ctx.session.id);
    ctx.sessionCookie.clear();
    return { ok: true as const };
  }),

  logoutAll: sessionProcedure.input(z.void()).output(Ok).mutation(async ({ ctx }) => {
    await deleteUserSessions(ctx.deps, ctx.user.id);
    ctx.sessionCookie.clear();
    return { ok: true as const };
  }),

  me: authedProcedure.input(z.void()).output(User).query(({ ctx }) => ctx.user),

  sessions: sessionProcedure
    .input(z.void())
    .output(z.array(Session))
    .query(({ ctx }) => listSessions(ctx.deps, ctx.user.id, ctx.session.id)),

  revokeSession: sessionProcedure
    .input(z.object({ id: Id }))
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      const { wasCurrent } = await revokeSession(ctx.deps, ctx.user.id, input.id, ctx.session.id);
      if (wasCurrent) ctx.sessionCookie.clear();
      return { ok: true as const };
    }),

  /** Always `{ ok: true }`: whether the address has an account is not revealed. */
  requestPasswordReset: publicProcedure
    .use(rateLimit('passwordReset'))
    .input(z.object({ email: Email }))
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await requestPasswordReset(ctx.deps, input.email);
      return { ok: true as const };
    }),

  resetPassword: publicProcedure
    .use(rateLimit('passwordReset'))
    .input(z.object({ token: z.string().min(1).max(200), newPassword: Password }))
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await resetPassword(ctx.deps, input);
      return { ok: true as const };
    }),

  changePassword: sessionProcedure
    .input(z.object({ currentPassword: z.string().min(1).max(256), newPassword: Password }))
    .output(Ok)
    .mutation(async ({ ctx, input }) => {
      await changePassword(ctx.deps, ctx.user, ctx.session.id, input);
      return { ok: true as const };
    }),
});
