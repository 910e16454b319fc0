// Logging: secrets never reach a line, and failed queries are logged without their bound parameters.
import { describe, expect, it } from 'vitest';
import { DrizzleQueryError } from 'drizzle-orm';
import { captureLogs } from './testing/harness.ts';

describe('logger', () => {
  it('redacts secret-named fields at any depth, and headers that carry credentials', () => {
    const { lines, logger } = captureLogs();
    logger.info(
      {
        password: 'hunter2',
        input: { newPassword: 'n3w-pass', nested: { deeper: { apiKey: 'k-123', refreshToken: 'r-456' } } },
        headers: { authorization: 'Bearer abcdef', cookie: 'session=xyz', 'set-cookie': ['session=xyz'], accept: 'text/html' },
        list: [{ token: 'tok-789' }],
        count: 3,
      },
      'hello',
    );
    const line = JSON.stringify(lines[0]);
    for (const secret of ['hunter2', 'n3w-pass', 'k-123', 'r-456', 'abcdef', 'xyz', 'tok-789']) expect(line).not.toContain(secret);
    expect(lines[0]).toMatchObject({ msg: 'hello', count: 3, password: '[redacted]', headers: { accept: 'text/html', authorization: '[redacted]' } });
  });

  it('logs a failed query with its SQL and cause but without its parameters', () => {
    const { lines, logger } = captureLogs();
    const cause = Object.assign(new Error('duplicate key value violates unique constraint "users_email_unique"'), { code: '23505' });
    const error = new DrizzleQueryError('insert into "users" ("password_hash") values ($1)', ['$argon2id$v=19$secret-hash'], cause);
    logger.error({ err: error }, 'procedure failed');
    expect(JSON.stringify(lines[0])).not.toContain('secret-hash');
    const parsed = lines[0] as unknown as { err: { message: string; query: string; stack: string; cause: { code: string } } };
    expect(parsed.err.message).toBe('Failed query');
    expect(parsed.err.query).toContain('insert into "users"');
    expect(parsed.err.stack).toMatch(/^Failed query\n\s+at /);
    expect(parsed.err.cause.code).toBe('23505');
  });
});
