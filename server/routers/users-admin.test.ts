// users.create and users.update (admin), on both dialects: through procedures and over REST, with the e-mails
// they send, CONFLICT naming the field, deactivation ending sessions, and the last-admin and not-yourself rules.
import { describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { callerFor, dialects, failure, useTestDeps, useTestServer } from '../testing/harness.ts';
import { createUser, signIn, signedInUser, TEST_PASSWORD, uniqueName } from '../testing/factories.ts';
import { useSmtpServer } from '../testing/smtp.ts';
import { rest } from '../testing/http.ts';
import type { Deps } from '../deps.ts';

const tokenIn = (text: string) => /token: ([a-z2-7]{32})/.exec(text)?.[1];
const lastAdmin = 'the last active admin cannot be deactivated, demoted or deleted';
const notOnSelf = 'an admin cannot deactivate or delete their own account';

/** Leaves no active admin in the database, so a test can count on the ones it makes. */
async function noActiveAdmins(deps: Deps) {
  const { users } = deps.db.tables;
  await deps.db.orm.update(users).set({ role: 'user' }).where(eq(users.role, 'admin'));
}

describe.each(dialects)('admin user management on %s', (dialect) => {
  const inbox = useSmtpServer();
  const deps = useTestDeps(dialect, { work: true, env: () => ({ SMTP_URL: inbox.current.url, PASSWORD_RESET_URL: 'https://app.example.com/reset' }) });
  const anonymous = () => callerFor(deps.current, { ip: '192.0.2.60' });

  it('creates a user with a password: they can sign in at once and get the welcome e-mail', async () => {
    const admin = await signedInUser(deps.current, { role: 'admin' });
    const name = uniqueName('made');
    const created = await admin.caller.users.create({ username: name, email: `${name}@EXAMPLE.com`, fullName: 'Made By Admin', role: 'user', password: 'a password of its own' });
    expect(created).toEqual({ id: expect.any(String), username: name, email: `${name}@example.com`.toLowerCase(), fullName: 'Made By Admin', role: 'user', isActive: true, createdAt: expect.any(Date) });
    expect((await anonymous().auth.login({ usernameOrEmail: name, password: 'a password of its own' })).user.id).toBe(created.id);
    await expect.poll(() => inbox.current.to(created.email).map((mail) => mail.subject)).toEqual(['Welcome to ai-backend-service']);
  });

  it('creates a user without a password: nobody can sign in until the mailed set-password link is used', async () => {
    const admin = await signedInUser(deps.current, { role: 'admin' });
    const name = uniqueName('invited');
    const created = await admin.caller.users.create({ username: name, email: `${name}@example.com`, role: 'admin' });
    expect(created).toMatchObject({ username: name, role: 'admin', isActive: true, fullName: null });
    await expect.poll(() => inbox.current.to(created.email).length).toBe(1);
    const [mail] = inbox.current.to(created.email);
    expect(mail.subject).toBe('Choose the password of your new account');
    const token = tokenIn(mail.text ?? '');
    expect(token).toBeDefined();
    expect(mail.html).toContain(`https://app.example.com/reset?token=${token}`);
    expect((await failure(anonymous().auth.login({ usernameOrEmail: name, password: TEST_PASSWORD }))).code).toBe('UNAUTHORIZED');
    expect(await anonymous().auth.resetPassword({ token: token!, newPassword: 'the chosen password' })).toEqual({ ok: true });
    expect((await anonymous().auth.login({ usernameOrEmail: name, password: 'the chosen password' })).user).toMatchObject({ id: created.id, role: 'admin' });
  });

  it('names the taken field: username (whatever its case) or e-mail', async () => {
    const admin = await signedInUser(deps.current, { role: 'admin' });
    const existing = await createUser(deps.current);
    const fresh = uniqueName('fresh');
    expect(await failure(admin.caller.users.create({ username: existing.username.toUpperCase(), email: `${fresh}@example.com`, role: 'user' }))).toMatchObject({
      code: 'CONFLICT',
      fieldErrors: { username: [expect.any(String)] },
    });
    expect(await failure(admin.caller.users.create({ username: fresh, email: existing.email.toUpperCase(), role: 'user' }))).toMatchObject({
      code: 'CONFLICT',
      fieldErrors: { email: [expect.any(String)] },
    });
    const other = await createUser(deps.current);
    expect(await failure(admin.caller.users.update({ id: other.id, email: existing.email }))).toMatchObject({ code: 'CONFLICT', fieldErrors: { email: [expect.any(String)] } });
    // Nothing was made or changed by the refused calls.
    expect((await admin.caller.users.list({ q: fresh })).total).toBe(0);
    expect((await admin.caller.users.list({ q: other.username })).items[0].email).toBe(other.email);
  });

  it('validates the input with field messages', async () => {
    const admin = await signedInUser(deps.current, { role: 'admin' });
    const name = uniqueName('bad');
    expect((await failure(admin.caller.users.create({ username: 'x', email: `${name}@example.com`, role: 'user' }))).fieldErrors).toHaveProperty('username');
    expect((await failure(admin.caller.users.create({ username: name, email: 'nope', role: 'user' }))).fieldErrors).toHaveProperty('email');
    expect((await failure(admin.caller.users.create({ username: name, email: `${name}@example.com`, role: 'user', password: 'short' }))).fieldErrors).toHaveProperty('password');
    expect((await failure(admin.caller.users.create({ username: name, email: `${name}@example.com`, role: 'user', password: name }))).fieldErrors).toHaveProperty('password');
    expect((await failure(admin.caller.users.create({ username: name, email: `${name}@example.com`, role: 'root' as never }))).fieldErrors).toHaveProperty('role');
    expect((await failure(admin.caller.users.update({ id: 'x', fullName: '' }))).fieldErrors).toHaveProperty('fullName');
    expect((await failure(admin.caller.users.update({ id: crypto.randomUUID(), fullName: 'Nobody' }))).code).toBe('NOT_FOUND');
  });

  it('updates name, e-mail, role and active state; the old address is told and its reset links stop working', async () => {
    const admin = await signedInUser(deps.current, { role: 'admin' });
    const user = await createUser(deps.current);
    await anonymous().auth.requestPasswordReset({ email: user.email });
    await expect.poll(() => inbox.current.to(user.email).length).toBe(1);
    const oldToken = tokenIn(inbox.current.to(user.email)[0].text ?? '')!;

    const email = `${uniqueName('moved')}@example.com`;
    const updated = await admin.caller.users.update({ id: user.id, fullName: 'Renamed', email, role: 'admin' });
    expect(updated).toMatchObject({ id: user.id, fullName: 'Renamed', email, role: 'admin', isActive: true });
    await expect.poll(() => inbox.current.to(user.email).map((mail) => mail.subject)).toContain('The e-mail address of your account changed');
    expect(await failure(anonymous().auth.resetPassword({ token: oldToken, newPassword: 'taken over password' }))).toMatchObject({ message: 'invalid or expired token' });
    // Only what is sent changes; null clears the name.
    expect(await admin.caller.users.update({ id: user.id, fullName: null })).toMatchObject({ fullName: null, email, role: 'admin' });
    expect(await admin.caller.users.update({ id: user.id })).toMatchObject({ fullName: null, email, role: 'admin', isActive: true });
  });

  it('moves an e-mail address only with a session, and an admin’s own only through users.updateMe', async () => {
    const admin = await signedInUser(deps.current, { role: 'admin' });
    const script = callerFor(deps.current, { token: (await admin.caller.apiTokens.create({ name: 'admin script' })).token });
    const user = await createUser(deps.current);
    const email = `${uniqueName('elsewhere')}@example.com`;
    expect(await failure(script.users.update({ id: user.id, email }))).toMatchObject({ code: 'FORBIDDEN', message: 'API tokens cannot change e-mail addresses: use a session' });
    // Everything else works with a token, and so does sending the address the account already has.
    expect(await script.users.update({ id: user.id, fullName: 'By Script', email: user.email })).toMatchObject({ fullName: 'By Script', email: user.email });
    expect(await failure(admin.caller.users.update({ id: admin.user.id, email }))).toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining('users.updateMe') });
    expect((await admin.caller.auth.me()).email).toBe(admin.user.email);
    expect((await admin.caller.users.update({ id: user.id, email })).email).toBe(email);
  });

  it('deactivation ends the user’s sessions, and API tokens stop working until reactivation', async () => {
    const admin = await signedInUser(deps.current, { role: 'admin' });
    const { caller, user } = await signedInUser(deps.current);
    const program = callerFor(deps.current, { token: (await caller.apiTokens.create({ name: 'script' })).token });
    expect((await admin.caller.users.update({ id: user.id, isActive: false })).isActive).toBe(false);
    expect((await failure(caller.auth.me())).code).toBe('UNAUTHORIZED');
    expect(await failure(program.auth.me())).toMatchObject({ code: 'FORBIDDEN', message: 'account is inactive' });
    const { sessions } = deps.current.db.tables;
    expect(await deps.current.db.orm.select().from(sessions).where(eq(sessions.userId, user.id))).toEqual([]);
    await admin.caller.users.update({ id: user.id, isActive: true });
    expect((await program.auth.me()).id).toBe(user.id);
  });

  it('an admin cannot deactivate or delete their own account, though other admins can', async () => {
    const admin = await signedInUser(deps.current, { role: 'admin' });
    const other = await signedInUser(deps.current, { role: 'admin' });
    expect(await failure(admin.caller.users.update({ id: admin.user.id, isActive: false }))).toMatchObject({ code: 'FORBIDDEN', message: notOnSelf });
    expect(await failure(admin.caller.users.setActive({ id: admin.user.id, isActive: false }))).toMatchObject({ code: 'FORBIDDEN', message: notOnSelf });
    expect(await failure(admin.caller.users.delete({ id: admin.user.id }))).toMatchObject({ code: 'FORBIDDEN', message: notOnSelf });
    expect((await admin.caller.auth.me()).isActive).toBe(true);
    // Other changes to one's own account are fine.
    expect((await admin.caller.users.update({ id: admin.user.id, fullName: 'Still Me' })).fullName).toBe('Still Me');
    expect((await other.caller.users.update({ id: admin.user.id, isActive: false })).isActive).toBe(false);
    expect(await other.caller.users.delete({ id: admin.user.id })).toEqual({ ok: true });
  });

  it('is for admins only: UNAUTHORIZED for nobody, FORBIDDEN for users', async () => {
    const { caller } = await signedInUser(deps.current);
    const target = await createUser(deps.current);
    const name = uniqueName('nope');
    const calls = (c: typeof caller) => [c.users.create({ username: name, email: `${name}@example.com`, role: 'admin' }), c.users.update({ id: target.id, role: 'admin' })];
    for (const result of await Promise.all(calls(anonymous()).map(failure))) expect(result.code).toBe('UNAUTHORIZED');
    for (const result of await Promise.all(calls(caller).map(failure))) expect(result).toMatchObject({ code: 'FORBIDDEN', message: 'admin only' });
    expect((await createUser(deps.current)).role).toBe('user');
  });
});

describe.each(dialects)('the last active admin, through users.update, on %s', (dialect) => {
  // A database of its own: these tests count every admin in it.
  const deps = useTestDeps(dialect);

  it('cannot be demoted or deactivated; with a second active admin it can', async () => {
    await noActiveAdmins(deps.current);
    const admin = await signedInUser(deps.current, { role: 'admin' });
    expect(await failure(admin.caller.users.update({ id: admin.user.id, role: 'user' }))).toMatchObject({ code: 'CONFLICT', message: lastAdmin });
    expect(await failure(admin.caller.users.update({ id: admin.user.id, role: 'user', fullName: 'Changed' }))).toMatchObject({ code: 'CONFLICT', message: lastAdmin });
    // The refused change changed nothing, not even the name that came with it.
    expect(await admin.caller.auth.me()).toMatchObject({ role: 'admin', fullName: null });
    const second = await signedInUser(deps.current, { role: 'admin' });
    expect((await second.caller.users.update({ id: admin.user.id, role: 'user' })).role).toBe('user');
    expect(await failure(second.caller.users.update({ id: second.user.id, role: 'user' }))).toMatchObject({ code: 'CONFLICT', message: lastAdmin });
    // An inactive admin does not count: promoting one while it is inactive leaves the rule where it was.
    const dormant = await createUser(deps.current, { role: 'admin', isActive: false });
    expect(await failure(second.caller.users.update({ id: second.user.id, role: 'user' }))).toMatchObject({ code: 'CONFLICT' });
    expect((await second.caller.users.update({ id: dormant.id, isActive: true })).isActive).toBe(true);
    expect((await second.caller.users.update({ id: second.user.id, role: 'user' })).role).toBe('user');
  });
});

describe.each(dialects)('admin user management over REST on %s', (dialect) => {
  const app = useTestServer(dialect);

  it('creates (201) and updates users as plain JSON, naming the taken field in a 409, and keeps the last admin', async () => {
    await noActiveAdmins(app.deps);
    const admin = await signIn(app.deps, await createUser(app.deps, { role: 'admin' }));
    const name = uniqueName('rest');
    const created = await rest<{ id: string; email: string; createdAt: string }>(app.url, 'POST', '/api/users', {
      token: admin.token,
      json: { username: name, email: `${name}@example.com`, password: 'rest created password' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ username: name, email: `${name}@example.com`, role: 'user', isActive: true, fullName: null });
    expect(new Date(created.body.createdAt).toISOString()).toBe(created.body.createdAt);

    const taken = await rest<{ error: { code: string; fieldErrors: Record<string, string[]> } }>(app.url, 'POST', '/api/users', {
      token: admin.token,
      json: { username: name.toUpperCase(), email: `${uniqueName('other')}@example.com` },
    });
    expect(taken.status).toBe(409);
    expect(taken.body.error).toMatchObject({ code: 'CONFLICT', fieldErrors: { username: [expect.any(String)] } });

    const other = await createUser(app.deps);
    const emailTaken = await rest<{ error: { fieldErrors: Record<string, string[]> } }>(app.url, 'PATCH', `/api/users/${other.id}`, { token: admin.token, json: { email: created.body.email } });
    expect(emailTaken.status).toBe(409);
    expect(Object.keys(emailTaken.body.error.fieldErrors)).toEqual(['email']);

    const patched = await rest(app.url, 'PATCH', `/api/users/${created.body.id}`, { token: admin.token, json: { fullName: 'Over Rest', role: 'admin', isActive: false } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id: created.body.id, fullName: 'Over Rest', role: 'admin', isActive: false });

    const me = (await admin.caller.auth.me()).id;
    const demoteSelf = await rest<{ error: { code: string; message: string } }>(app.url, 'PATCH', `/api/users/${me}`, { token: admin.token, json: { role: 'user' } });
    expect(demoteSelf.status).toBe(409);
    expect(demoteSelf.body.error).toMatchObject({ code: 'CONFLICT', message: lastAdmin });
    expect((await rest(app.url, 'PATCH', `/api/users/${me}`, { token: admin.token, json: { isActive: false } })).status).toBe(403);
    expect((await rest(app.url, 'DELETE', `/api/users/${me}`, { token: admin.token })).status).toBe(403);
    expect((await rest(app.url, 'PATCH', `/api/users/${crypto.randomUUID()}`, { token: admin.token, json: { fullName: 'x' } })).status).toBe(404);

    const user = await signIn(app.deps, other);
    expect((await rest(app.url, 'POST', '/api/users', { token: user.token, json: { username: uniqueName('x'), email: `${uniqueName('x')}@example.com` } })).status).toBe(403);
    expect((await rest(app.url, 'PATCH', `/api/users/${other.id}`, { token: user.token, json: { role: 'admin' } })).status).toBe(403);
    expect((await rest(app.url, 'PATCH', `/api/users/${other.id}`, { json: { role: 'admin' } })).status).toBe(401);
  });
});
