// The app on databases whose defaults are not ours: another DateStyle, TimeZone, client encoding and
// IntervalStyle set by the operator on the database. The app sets what it relies on per connection.
import { describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { callerFor, canVaryPostgres, dialects, failure, useTestDeps } from '../testing/harness.ts';
import { uniqueName } from '../testing/factories.ts';

const DAY = 24 * 60 * 60 * 1000;
/** Wide: the bound is "the right instant", not a speed (a DMY/MDY mix-up or a time zone shift is hours off). */
const SLACK = 60_000;

const near = (date: Date, expected: number) => {
  expect(date).toBeInstanceOf(Date);
  expect(Math.abs(date.getTime() - expected)).toBeLessThan(SLACK);
};

describe.each(dialects)('on %s whose database defaults are unusual', (dialect) => {
  const deps = useTestDeps(dialect, {
    work: true,
    postgres: { settings: { DateStyle: 'SQL, DMY', TimeZone: 'Asia/Kolkata', client_encoding: 'LATIN1', IntervalStyle: 'sql_standard' } },
  });

  it.runIf(dialect === 'sqlite' || canVaryPostgres())('runs the whole account flow, with exact timestamps and non-Latin text', async () => {
    const anonymous = callerFor(deps.current, { ip: '192.0.2.7', userAgent: 'vitest' });
    const name = uniqueName('dates');
    const registered = await anonymous.auth.register({ username: name, email: `${name}@example.com`, password: 'a long enough password', fullName: 'Иван Ωμέγα 山田' });
    near(registered.user.createdAt, Date.now());
    near(registered.expiresAt, Date.now() + 30 * DAY);
    expect(registered.user.fullName).toBe('Иван Ωμέγα 山田');

    const { token, user } = await anonymous.auth.login({ usernameOrEmail: name.toUpperCase(), password: 'a long enough password' });
    const caller = callerFor(deps.current, { token: token!, ip: '192.0.2.7', userAgent: 'vitest' });
    expect(await caller.auth.me()).toEqual(user);
    const sessions = await caller.auth.sessions();
    expect(sessions).toHaveLength(2);
    for (const session of sessions) {
      near(session.createdAt, Date.now());
      near(session.lastUsedAt, Date.now());
      near(session.expiresAt, Date.now() + 30 * DAY);
    }
    expect((await caller.users.updateMe({ fullName: 'Ада Λ' })).fullName).toBe('Ада Λ');
    expect((await caller.users.get({ id: user.id })).createdAt).toEqual(registered.user.createdAt);

    // The welcome e-mail job ran through the queue's own connections and recorded when it was sent.
    const { users } = deps.current.db.tables;
    const sentAt = async () => (await deps.current.db.orm.select({ sentAt: users.welcomeEmailSentAt }).from(users).where(eq(users.id, user.id)))[0].sentAt;
    await expect.poll(sentAt, { interval: 100 }).toBeInstanceOf(Date);
    near((await sentAt())!, Date.now());

    // A task runs through the queue and the worker, and its times come back right.
    const { id } = await caller.tasks.submit({ type: 'math.sum', input: { numbers: [1, 2] } });
    await expect.poll(async () => (await caller.tasks.get({ id })).status, { interval: 100 }).toBe('completed');
    const task = await caller.tasks.get({ id });
    for (const at of [task.createdAt, task.startedAt!, task.finishedAt!]) near(at, Date.now());

    await caller.auth.logout();
    expect((await failure(caller.auth.me())).code).toBe('UNAUTHORIZED');
  });
});
