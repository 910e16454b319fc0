// A real SMTP server in the test process (smtp-server), collecting what arrives, parsed (mailparser); it can
// misbehave the ways real ones do: answer the end of a message late, or drop the connection instead.
import type { AddressInfo, Socket } from 'node:net';
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

export type SmtpBehaviour = {
  /** Takes each message (it is in `messages` at once), and answers its end only this many ms later. */
  answerAfterMs?: number;
  /** Takes each message, then closes the connection without answering its end. */
  dropAfterMessage?: boolean;
  /** Called with each message as it is taken, before the answer. */
  onMessage?: (mail: ParsedMail) => void;
};

export async function startSmtpServer(behaviour: SmtpBehaviour = {}): Promise<Inbox> {
  const messages: ParsedMail[] = [];
  const sockets = new Map<string, Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((mail) => {
          messages.push(mail);
          behaviour.onMessage?.(mail);
          if (behaviour.dropAfterMessage) {
            sockets.get(`${session.remoteAddress}:${session.remotePort}`)?.destroy();
            return;
          }
          if (!behaviour.answerAfterMs) return callback();
          const timer = setTimeout(() => {
            timers.delete(timer);
            callback();
          }, behaviour.answerAfterMs);
          timers.add(timer);
        })
        .catch((error: Error) => callback(error));
    },
  });
  server.server.on('connection', (socket: Socket) => {
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    sockets.set(key, socket);
    socket.once('close', () => sockets.delete(key));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  const addressesOf = (mail: ParsedMail) => (Array.isArray(mail.to) ? mail.to : mail.to ? [mail.to] : []).flatMap((to) => to.value.map((v) => v.address));
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    to: (address) => messages.filter((mail) => addressesOf(mail).includes(address)),
    close: () => {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets.values()) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** An SMTP server for one describe block. Read `.current` inside tests (its url in `env: () => …`). */
export function useSmtpServer(behaviour: SmtpBehaviour = {}): { current: Inbox } {
  const holder = { current: undefined as unknown as Inbox };
  beforeAll(async () => {
    holder.current = await startSmtpServer(behaviour);
  });
  afterAll(async () => {
    await holder.current?.close();
  });
  return holder;
}
