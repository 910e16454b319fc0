// Test fixtures as factories: users straight into the database, signed-in callers, a clock tests can move.
import type { Deps, Clock } from '../deps.ts';
import type { Role, User } from '../schemas.ts';
import { hashPassword } from '../services/passwords.ts';
import { createSession } from '../services/sessions.ts';
import { userColumns } from '../services/user-columns.ts';
import { callerFor } from './harness.ts';

export const TEST_PASSWORD = 'correct horse battery staple';
let testPasswordHash: Promise<string> | undefined;
let sequence = 0;

/** A unique username (and e-mail) for this process, so tests sharing a database never collide. */
export function uniqueName(prefix = 'user'): string {
  return `${prefix}_${process.pid}_${++sequence}_${Math.random().toString(36).slice(2, 6)}`;
}

export type UserOverrides = Partial<{ username: string; email: string; fullName: string | null; role: Role; isActive: boolean; password: string; createdAt: Date }>;

/** Inserts a user directly (hashing TEST_PASSWORD once per process); returns it with its password. */
export async function createUser(deps: Deps, overrides: UserOverrides = {}): Promise<User & { password: string }> {
  const username = overrides.username ?? uniqueName();
  const password = overrides.password ?? TEST_PASSWORD;
  const passwordHash = overrides.password ? await hashPassword(password) : await (testPasswordHash ??= hashPassword(TEST_PASSWORD));
  const { users } = deps.db.tables;
  const [user] = await deps.db.orm
    .insert(users)
    .values({
      username,
      email: overrides.email ?? `${username.toLowerCase()}@example.com`,
      fullName: overrides.fullName ?? null,
      role: overrides.role ?? 'user',
      isActive: overrides.isActive ?? true,
      passwordHash,
      ...(overrides.createdAt ? { createdAt: overrides.createdAt, updatedAt: overrides.createdAt } : {}),
    })
    .returning(userColumns(users));
  return { ...user, password };
}

/** A session for the user and a caller that sends its token, as a signed-in program would. */
export async function signIn(deps: Deps, user: Pick<User, 'id'>) {
  const session = await createSession(deps, { userId: user.id, ip: '127.0.0.1', userAgent: 'vitest' });
  return { token: session.token, sessionId: session.id, caller: callerFor(deps, { token: session.token, ip: '127.0.0.1' }) };
}

/** A user of the given role, signed in. */
export async function signedInUser(deps: Deps, overrides: UserOverrides = {}) {
  const user = await createUser(deps, overrides);
  return { user, ...(await signIn(deps, user)) };
}

/** A clock that stands still until a test moves it. */
export function manualClock(start = new Date()): Clock & { advance: (ms: number) => void; set: (date: Date) => void } {
  let now = start.getTime();
  return {
    now: () => new Date(now),
    advance: (ms) => {
      now += ms;
    },
    set: (date) => {
      now = date.getTime();
    },
  };
}
