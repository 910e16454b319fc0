// The SMTP mailer against a real SMTP server: its connections are pooled, and options in SMTP_URL (requireTLS) apply.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.ts';
import { createMailer } from './mailer.ts';

const logger = createLogger({ level: 'silent' });
const message = (n: number) => ({ to: `user${n}@example.test`, subject: `hello ${n}`, text: 'hi', html: '<p>hi</p>' });

describe('the SMTP mailer', () => {
  let connections = 0;
  const delivered: string[] = [];
  let url = '';
  // Plain SMTP without STARTTLS, as a misconfigured server, or one stripped by a man in the middle, would offer.
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onConnect(_session, callback) {
      connections += 1;
      callback();
    },
    onData(stream, session, callback) {
      stream.resume();
      stream.on('end', () => {
        delivered.push(...session.envelope.rcptTo.map((rcpt) => rcpt.address));
        callback();
      });
    },
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `smtp://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('keeps one connection open for consecutive messages (a pool)', async () => {
    connections = 0;
    const mailer = createMailer({ SMTP_URL: url, MAIL_FROM: 'Example <no-reply@example.test>', OUTBOX_DIR: '/nonexistent' }, logger);
    try {
      for (const n of [1, 2, 3]) expect((await mailer.send(message(n))).transport).toBe('smtp');
    } finally {
      mailer.close();
    }
    expect(delivered).toEqual(expect.arrayContaining(['user1@example.test', 'user2@example.test', 'user3@example.test']));
    expect(connections).toBe(1);
  });

  it('with ?requireTLS=true in SMTP_URL, refuses to send over a connection that STARTTLS did not upgrade', async () => {
    const mailer = createMailer({ SMTP_URL: `${url}?requireTLS=true`, MAIL_FROM: 'Example <no-reply@example.test>', OUTBOX_DIR: '/nonexistent' }, logger);
    try {
      await expect(mailer.send(message(4))).rejects.toThrow(/STARTTLS/i);
    } finally {
      mailer.close();
    }
    expect(delivered).not.toContain('user4@example.test');
  });
});
