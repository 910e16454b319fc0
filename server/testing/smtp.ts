// A real SMTP server in the test process (smtp-server), collecting what arrives, parsed (mailparser).
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll } from 'vitest';

export type Inbox = {
  url: string;
  messages: ParsedMail[];
  /** Messages to one address. */
  to: (address: string) => ParsedMail[];
  close: () => Promise<void>;
};

export async function startSmtpServer(): Promise<Inbox> {
  const messages: ParsedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream)
        .then((mail) => {
          messages.push(mail);
          callback();
        })
        .catch((error: Error) => callback(error));
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  const addressesOf = (mail: ParsedMail) => (Array.isArray(mail.to) ? mail.to : mail.to ? [mail.to] : []).flatMap((to) => to.value.map((v) => v.address));
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    to: (address) => messages.filter((mail) => addressesOf(mail).includes(address)),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** An SMTP server for one describe block. Read `.current` inside tests (its url in `env: () => …`). */
export function useSmtpServer(): { current: Inbox } {
  const holder = { current: undefined as unknown as Inbox };
  beforeAll(async () => {
    holder.current = await startSmtpServer();
  });
  afterAll(async () => {
    await holder.current?.close();
  });
  return holder;
}
