// The first admin of an installation: the service on both dialects, and the command line on a SQLite file.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { callerFor, dialects, useTestDeps } from '../server/testing/harness.ts';
import { createUser, uniqueName } from '../server/testing/factories.ts';
import { PRELOAD } from '../server/testing/processes.ts';
import { createOrPromoteAdmin } from '../server/services/users.ts';

describe.each(dialects)('createOrPromoteAdmin on %s', (dialect) => {
  const deps = useTestDeps(dialect);

  it('creates an admin who can log in with the given password', async () => {
    const name = uniqueName('admin');
    const { user, created } = await createOrPromoteAdmin(deps.current, { username: name, email: `${name}@example.com` }, async () => 'first admin password');
    expect(created).toBe(true);
    expect(user).toMatchObject({ username: name, role: 'admin', isActive: true });
    const session = await callerFor(deps.current).auth.login({ usernameOrEmail: name, password: 'first admin password' });
    expect(session.user.role).toBe('admin');
  });

  it('promotes and reactivates an existing account by username or e-mail, without asking for a password', async () => {
    const existing = await createUser(deps.current, { isActive: false });
    const asked = { password: false };
    const { user, created } = await createOrPromoteAdmin(deps.current, { username: existing.username.toUpperCase(), email: 'unused@example.com' }, async () => {
      asked.password = true;
      return 'unused password';
    });
    expect({ created, asked: asked.password, role: user.role, isActive: user.isActive, id: user.id }).toEqual({ created: false, asked: false, role: 'admin', isActive: true, id: existing.id });
  });
});

describe('npm run create-admin', () => {
  it('creates, then promotes, and refuses bad arguments with exit code 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'create-admin-'));
    const run = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [...PRELOAD, 'scripts/create-admin.ts', ...args], {
        env: { PATH: process.env.PATH, DATABASE_URL: `file:${join(dir, 'app.db')}`, ...env },
        encoding: 'utf8',
        input: '',
      });
    try {
      const created = run(['--username', 'first_admin', '--email', 'First@Example.com'], { ADMIN_PASSWORD: 'a good admin password' });
      expect(created.stderr).toBe('');
      expect(created.stdout).toBe('created admin first_admin (first@example.com)\n');
      expect(created.status).toBe(0);
      const promoted = run(['--username', 'FIRST_ADMIN', '--email', 'other@example.com']);
      expect(promoted.stdout).toBe('promoted first_admin to admin\n');
      const weak = run(['--username', 'second', '--email', 's@example.com'], { ADMIN_PASSWORD: 'short' });
      expect({ status: weak.status, stderr: weak.stderr }).toEqual({ status: 1, stderr: 'create-admin: password must be at least 8 characters\n' });
      const noPassword = run(['--username', 'third', '--email', 't@example.com']);
      expect(noPassword.status).toBe(1);
      expect(noPassword.stderr).toMatch(/set ADMIN_PASSWORD/);
      const badName = run(['--username', 'bad name', '--email', 'b@example.com']);
      expect(badName.status).toBe(1);
      expect(badName.stderr).toMatch(/--username: may contain only/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
