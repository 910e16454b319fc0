// Sends e-mail: over SMTP (nodemailer) when SMTP_URL is set, else into a development outbox of .eml files.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';

export type Message = { to: string; subject: string; text: string; html: string };
export type SentMessage = { messageId: string; transport: 'smtp' | 'outbox'; file?: string };

export type Mailer = {
  send: (message: Message) => Promise<SentMessage>;
  close: () => void;
};

export function createMailer(config: Pick<Config, 'SMTP_URL' | 'MAIL_FROM' | 'OUTBOX_DIR'>, logger: Logger): Mailer {
  if (config.SMTP_URL) {
    // A pool keeps connections open between messages; timeouts keep a dead server from holding a job. These are
    // transport options, so they go with the URL (the second argument holds message defaults only). Options in
    // the URL's query win over them, e.g. smtp://…:587?requireTLS=true to refuse a connection STARTTLS did not upgrade.
    const transport = nodemailer.createTransport(
      { url: config.SMTP_URL, pool: true, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 },
      { from: config.MAIL_FROM },
    );
    return {
      send: async (message) => {
        const info = (await transport.sendMail(message)) as { messageId: string };
        return { messageId: info.messageId, transport: 'smtp' };
      },
      close: () => transport.close(),
    };
  }

  // Development: the complete message (headers, text and HTML parts) as an .eml file any mail client opens.
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    send: async (message) => {
      const info = (await transport.sendMail({ from: config.MAIL_FROM, ...message })) as { messageId: string; message: Buffer };
      await mkdir(config.OUTBOX_DIR, { recursive: true });
      const file = join(config.OUTBOX_DIR, `${new Date().toISOString().replace(/[:.]/g, '-')}-${info.messageId.replace(/[^a-zA-Z0-9@.-]/g, '')}.eml`);
      await writeFile(file, info.message);
      // Subject and recipient only: bodies can carry tokens.
      logger.info({ to: message.to, subject: message.subject, file }, 'e-mail written to the outbox (SMTP_URL is not set)');
      return { messageId: info.messageId, transport: 'outbox', file };
    },
    close: () => transport.close(),
  };
}
