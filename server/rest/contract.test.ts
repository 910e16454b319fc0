// Contract, on both dialects, against a live server: every operation in /openapi.json is called with a valid
// request and must succeed with its documented status and a body that matches its documented schema.
import { beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../services/tokens.ts';
import { createUser, signIn, uniqueName } from '../testing/factories.ts';
import { dialects, useTestServer } from '../testing/harness.ts';
import { loadContract, pathFor, type Contract } from '../testing/openapi-contract.ts';
import { rest, type RestOptions } from '../testing/http.ts';

describe.each(dialects)('the REST contract on %s', (dialect) => {
  const app = useTestServer(dialect);
  let contract: Contract;
  const succeeded = new Set<string>();

  beforeAll(async () => {
    contract = await loadContract(app.url);
  });

  /** Calls an operation by id; the response must keep the contract and be a success. */
  async function call<T>(id: string, params: Record<string, string> = {}, options: RestOptions = {}): Promise<T> {
    const operation = contract.operation(id);
    const response = await rest<T>(app.url, operation.method, pathFor(operation, params), options);
    expect(contract.violation(operation, response)).toBeNull();
    expect({ id, status: response.status, body: response.status < 300 ? 'ok' : response.body }).toEqual({ id, status: expect.any(Number), body: 'ok' });
    succeeded.add(id);
    return response.body;
  }

  it('answers every documented operation as documented', async () => {
    await call('health.check');
    const name = uniqueName('contract');
    const password = 'contract password one';
    const registered = await call<{ token: string; user: { id: string; email: string } }>('auth.register', {}, {
      json: { username: name, email: `${name}@example.com`, password, fullName: 'Con Tract' },
    });
    const token = registered.token;
    const userId = registered.user.id;
    const second = await call<{ token: string }>('auth.login', {}, { json: { usernameOrEmail: name, password } });
    await call('auth.me', {}, { token });
    const sessions = await call<{ id: string; current: boolean }[]>('auth.sessions', {}, { token });
    await call('auth.revokeSession', { id: sessions.find((session) => !session.current)!.id }, { token });
    expect((await rest(app.url, 'GET', '/api/auth/me', { token: second.token })).status).toBe(401);
    await call('auth.changePassword', {}, { token, json: { currentPassword: password, newPassword: 'contract password two' } });
    await call('auth.requestPasswordReset', {}, { json: { email: registered.user.email } });
    const resetToken = 'contract-reset-token-' + name;
    const now = new Date();
    await app.deps.db.orm.insert(app.deps.db.tables.passwordResetTokens).values({
      userId,
      tokenHash: hashToken(resetToken),
      jobId: `contract-${name}`,
      createdAt: now,
      expiresAt: new Date(now.getTime() + 3_600_000),
    });
    await call('auth.resetPassword', {}, { json: { token: resetToken, newPassword: 'contract password three' } });
    const fresh = (await call<{ token: string }>('auth.login', {}, { json: { usernameOrEmail: name, password: 'contract password three' } })).token;

    const apiToken = await call<{ id: string; token: string }>('apiTokens.create', {}, { token: fresh, json: { name: 'contract', expiresInDays: 7 } });
    await call('apiTokens.list', {}, { token: fresh });
    await call('auth.me', {}, { token: apiToken.token });
    await call('apiTokens.revoke', { id: apiToken.id }, { token: fresh });

    const post = await call<{ id: string }>('posts.create', {}, { token: fresh, json: { title: 'Contract post', body: 'a body', published: true } });
    await call('posts.get', { id: post.id });
    await call('posts.list', {}, { query: { q: 'contract', limit: 5, skip: 0, published: true, authorId: userId } });
    await call('posts.update', { id: post.id }, { token: fresh, json: { title: 'Contract post, edited' } });
    await call('users.get', { id: userId });
    await call('users.getWithPosts', { id: userId }, { query: { postsLimit: 5 } });
    await call('users.updateMe', {}, { token: fresh, json: { fullName: null } });
    await call('posts.delete', { id: post.id }, { token: fresh });

    const queued = await call<{ id: string }>('tasks.submit', {}, { token: fresh, json: { type: 'text.analyze', input: { text: 'Contracts keep promises.' } } });
    await call('tasks.get', { id: queued.id }, { token: fresh });
    await call('tasks.list', {}, { token: fresh, query: { status: 'queued', type: 'text.analyze' } });
    // Streams: a 200 with text/event-stream (the helper reads the first chunk and hangs up).
    await call('tasks.onChange', {}, { token: fresh, query: { taskId: queued.id } });
    // Nothing works the queue in this block, so the task is still queued.
    await call('tasks.cancel', { id: queued.id }, { token: fresh });

    const admin = await signIn(app.deps, await createUser(app.deps, { role: 'admin' }));
    const other = await createUser(app.deps);
    await call('users.list', {}, { token: admin.token, query: { q: other.username, role: 'user', isActive: true, limit: 10 } });
    await call('users.setActive', { id: other.id }, { token: admin.token, json: { isActive: false } });
    await call('users.setRole', { id: other.id }, { token: admin.token, json: { role: 'admin' } });
    await call('users.delete', { id: other.id }, { token: admin.token });
    const made = uniqueName('made');
    const created = await call<{ id: string }>('users.create', {}, { token: admin.token, json: { username: made, email: `${made}@example.com`, fullName: 'Made', role: 'user' } });
    await call('users.update', { id: created.id }, { token: admin.token, json: { fullName: null, email: `${made}.new@example.com`, role: 'admin', isActive: false } });
    await call('admin.stats', {}, { token: admin.token });
    // Nothing works the queues here: the welcome e-mail of the registration above still waits.
    await call('jobs.queues', {}, { token: admin.token });
    const waiting = await call<{ items: { id: string }[] }>('jobs.list', { queue: 'email.welcome' }, { token: admin.token, query: { state: 'created', limit: 5 } });
    const job = { queue: 'email.welcome', id: waiting.items[0].id };
    await call('jobs.get', job, { token: admin.token });
    await call('jobs.cancel', job, { token: admin.token });
    await call('jobs.retry', job, { token: admin.token });
    await call('jobs.delete', job, { token: admin.token });
    await call('jobs.retryDead', { queue: 'email.welcome' }, { token: admin.token });
    await call('admin.onStats', {}, { token: admin.token });

    await call('auth.logoutAll', {}, { token: fresh });
    const last = (await call<{ token: string }>('auth.login', {}, { json: { usernameOrEmail: name, password: 'contract password three' } })).token;
    await call('auth.logout', {}, { token: last });
    const again = (await call<{ token: string }>('auth.login', {}, { json: { usernameOrEmail: name, password: 'contract password three' } })).token;
    await call('users.deleteMe', {}, { token: again, json: { password: 'contract password three' } });
  });

  it('left no documented operation untried', () => {
    expect(contract.operations.map((operation) => operation.id).filter((id) => !succeeded.has(id))).toEqual([]);
  });
});
