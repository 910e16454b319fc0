// Sends e-mail: over SMTP (nodemailer) when SMTP_URL is set, else into a development outbox of .eml files.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import { MailError } from './mail-error.ts';

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
export type SendOptions = {
  /** Gives up when aborted (the job's signal): the connection carrying the message is closed. */
  signal?: AbortSignal;
  /** A total deadline for the send, from connecting to the server's answer (socketTimeout is only an idle one). */
  deadlineMs?: number;
};

export { MailError } from './mail-error.ts';

export type Mailer = {
  send: (message: Message, options?: SendOptions) => Promise<SentMessage>;
  close: () => void;
};

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error));

export function createMailer(config: Pick<Config, 'SMTP_URL' | 'MAIL_FROM' | 'OUTBOX_DIR'>, logger: Logger): Mailer {
  if (config.SMTP_URL) {
    // A pool keeps connections open between messages (an aborted send closes only its own connection); timeouts
    // keep a dead server from holding a job. These are transport options, so they go with the URL (the second
    // argument holds message defaults only). Options in the URL's query win over them, e.g.
    // smtp://…:587?requireTLS=true to refuse a connection STARTTLS did not upgrade.
    const transport = nodemailer.createTransport(
      { url: config.SMTP_URL, pool: true, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 },
      { from: config.MAIL_FROM },
    );
    return {
      send: async ({ key, ...message }, options = {}) => {
        const signals = [options.signal, options.deadlineMs === undefined ? undefined : AbortSignal.timeout(options.deadlineMs)].filter((s): s is AbortSignal => s !== undefined);
        const signal = signals.length > 0 ? AbortSignal.any(signals) : undefined;
        // The message is composed here and handed over as a stream, so we know when all of it (and with it
        // the end-of-data mark) went to the server: a failure before that cannot have delivered it.
        const raw = await new MailComposer({ from: config.MAIL_FROM, ...message, ...(key ? { messageId: messageIdFor(key) } : {}) }).compile().build();
        let handedOver = false;
        const stream = Readable.from([raw]).once('end', () => (handedOver = true));
        try {
          const info = (await transport.sendMail({ envelope: { from: config.MAIL_FROM, to: message.to }, raw: stream, ...(signal ? { signal } : {}) })) as { messageId: string };
          return { messageId: info.messageId, transport: 'smtp' };
        } catch (error) {
          const reason = signal?.aborted && options.signal?.aborted !== true ? `no answer within ${options.deadlineMs} ms` : describe(error);
          throw new MailError(`sending the e-mail failed: ${reason}`, handedOver, error);
        }
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
