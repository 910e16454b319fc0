// Sends e-mail: over SMTP (nodemailer) when SMTP_URL is set, else into a development outbox of .eml files.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';

export type Message = {
  to: string;
  subject: string;
  text: string;
  html: string;
  /**
   * Names the message: sent again under the same key (a job retried after dying between sending and recording
   * it), it replaces its .eml file in the outbox instead of adding one, and over SMTP it carries the same
   * Message-ID, by which mail systems recognise a duplicate.
   */
  key?: string;
};
export type SentMessage = { messageId: string; transport: 'smtp' | 'outbox'; file?: string };

export type Mailer = {
  send: (message: Message) => Promise<SentMessage>;
  close: () => void;
};

export function createMailer(config: Pick<Config, 'SMTP_URL' | 'MAIL_FROM' | 'OUTBOX_DIR'>, logger: Logger): Mailer {
  if (config.SMTP_URL) {
    // A pool keeps connections open between messages; timeouts keep a dead server from holding a job.
    const transport = nodemailer.createTransport(config.SMTP_URL, {
      from: config.MAIL_FROM,
      pool: true,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
    } as Parameters<typeof nodemailer.createTransport>[1]);
    return {
      send: async ({ key, ...message }) => {
        const info = (await transport.sendMail({ ...message, ...(key ? { messageId: messageIdFor(key) } : {}) })) as { messageId: string };
        return { messageId: info.messageId, transport: 'smtp' };
      },
      close: () => transport.close(),
    };
  }

  // Development: the complete message (headers, text and HTML parts) as an .eml file any mail client opens.
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    send: async ({ key, ...message }) => {
      const info = (await transport.sendMail({ from: config.MAIL_FROM, ...message, ...(key ? { messageId: messageIdFor(key) } : {}) })) as { messageId: string; message: Buffer };
      await mkdir(config.OUTBOX_DIR, { recursive: true });
      const name = key ? safeName(key) : `${new Date().toISOString().replace(/[:.]/g, '-')}-${safeName(info.messageId)}`;
      const file = join(config.OUTBOX_DIR, `${name}.eml`);
      // Written whole or not at all: a process killed mid-write leaves no truncated message behind.
      const partial = `${file}.${process.pid}.partial`;
      await writeFile(partial, info.message);
      await rename(partial, file);
      // Subject and recipient only: bodies can carry tokens.
      logger.info({ to: message.to, subject: message.subject, file }, 'e-mail written to the outbox (SMTP_URL is not set)');
      return { messageId: info.messageId, transport: 'outbox', file };
    },
    close: () => transport.close(),
  };
}

const safeName = (text: string) => text.replace(/[^a-zA-Z0-9@.-]/g, '');
const messageIdFor = (key: string) => `<${safeName(key)}@ai-backend-service>`;
