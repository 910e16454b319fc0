// A TCP proxy for tests (node:net) in front of a server such as Postgres: it can cut every connection, as a
// restart or network loss would, or hold them open and silent (a stalled network) until it lets traffic go on.
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export type TcpProxy = {
  readonly port: number;
  /** Drops every connection and refuses new ones until `resume`. */
  cut: () => Promise<void>;
  resume: () => Promise<void>;
  /** Keeps every connection (and new ones) open but forwards nothing, either way, until `release`. */
  hold: () => void;
  /** Forwards what was held, in order, and everything after. */
  release: () => void;
  close: () => Promise<void>;
};

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  /** While held, each direction's chunks wait here. */
  const waiting: { to: Socket; chunk: Buffer }[] = [];
  let held = false;
  let server: Server;
  let port = 0;

  const forward = (from: Socket, to: Socket) =>
    from.on('data', (chunk: Buffer) => {
      if (held) waiting.push({ to, chunk });
      else if (!to.destroyed) to.write(chunk);
    });

  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(target.port, target.host);
        sockets.add(client).add(upstream);
        forward(client, upstream);
        forward(upstream, client);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  await listen();

  return {
    get port() {
      return port;
    },
    cut: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        sockets.clear();
        waiting.length = 0;
        server.close(() => resolve());
      }),
    resume: listen,
    hold: () => {
      held = true;
    },
    release: () => {
      held = false;
      for (const { to, chunk } of waiting.splice(0)) if (!to.destroyed) to.write(chunk);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
