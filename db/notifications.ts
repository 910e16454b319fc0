// Change notifications: announced by the statement that makes a change (delivered on its commit, never for a
// rollback) and heard by listeners in any process (Postgres) or in this one (SQLite).
import pg from 'pg';

/**
 * What a listener hears: each payload, and `resync` after notifications may have been lost (a reconnect). `lost`,
 * if given, is told as soon as the connection drops: until the next `resync`, announcements are not heard.
 */
export type NotificationListener = { message: (payload: string) => void; resync: () => void; lost?: () => void };

/** Listeners per channel, and the fan-out to them. */
export function createListenerSet() {
  const channels = new Map<string, Set<NotificationListener>>();
  return {
    channels,
    add(channel: string, listener: NotificationListener): boolean {
      let set = channels.get(channel);
      const isNew = !set;
      if (!set) channels.set(channel, (set = new Set()));
      set.add(listener);
      return isNew;
    },
    remove(channel: string, listener: NotificationListener): boolean {
      const set = channels.get(channel);
      if (!set) return false;
      set.delete(listener);
      if (set.size > 0) return false;
      channels.delete(channel);
      return true;
    },
    deliver(channel: string, payload: string): void {
      for (const listener of channels.get(channel) ?? []) listener.message(payload);
    },
    resyncAll(): void {
      for (const set of channels.values()) for (const listener of set) listener.resync();
    },
    lostAll(): void {
      for (const set of channels.values()) for (const listener of set) listener.lost?.();
    },
  };
}

/** The SQLite side: an in-process bus (db/sqlite.ts holds announcements back until their commit). */
export function createLocalBus() {
  const listeners = createListenerSet();
  return {
    deliver: (channel: string, payload: string) => listeners.deliver(channel, payload),
    listen: async (channel: string, listener: NotificationListener) => {
      listeners.add(channel, listener);
      return async () => {
        listeners.remove(channel, listener);
      };
    },
  };
}

export type PostgresListenerOptions = {
  url: string;
  /** Session options for the connection (search_path and the like). */
  options?: string | undefined;
  connectionTimeoutMs: number;
  onError: (error: unknown, willRetry: boolean) => void;
};

const identifier = (channel: string): string => {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new Error(`invalid notification channel name: ${channel}`);
  return channel;
};

/**
 * One LISTEN connection for every channel of a process, opened on the first listen. When it drops it is
 * reopened (backing off up to 5 s) and every listener is told to resynchronise: what was announced while it
 * was gone was lost.
 */
export function createPostgresListener(settings: PostgresListenerOptions) {
  const listeners = createListenerSet();
  let client: pg.Client | null = null;
  let connecting: Promise<pg.Client> | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | null = null;
  let delay = 250;

  const open = async (): Promise<pg.Client> => {
    const connection = new pg.Client({
      connectionString: settings.url,
      connectionTimeoutMillis: settings.connectionTimeoutMs,
      keepAlive: true,
      application_name: 'ai-backend-service:listen',
      options: settings.options,
    });
    connection.on('notification', (message) => listeners.deliver(message.channel, message.payload ?? ''));
    connection.on('error', (error) => dropped(connection, error));
    connection.on('end', () => dropped(connection, new Error('the LISTEN connection ended')));
    try {
      await connection.connect();
      for (const channel of listeners.channels.keys()) await connection.query(`listen ${identifier(channel)}`);
    } catch (error) {
      connection.removeAllListeners('end');
      await connection.end().catch(() => {});
      throw error;
    }
    client = connection;
    delay = 250;
    return connection;
  };

  const reconnect = (): void => {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = null;
      connecting = open()
        .then((connection) => {
          // Whatever was announced while the connection was down is lost: listeners re-read what they show.
          listeners.resyncAll();
          return connection;
        })
        .catch((error: unknown) => {
          settings.onError(error, true);
          delay = Math.min(delay * 2, 5_000);
          reconnect();
          throw error;
        })
        .finally(() => (connecting = null));
      connecting.catch(() => {});
    }, delay);
    retry.unref();
  };

  function dropped(connection: pg.Client, error: unknown): void {
    if (client !== connection) return;
    client = null;
    connection.removeAllListeners('notification');
    void connection.end().catch(() => {});
    if (closed) return;
    listeners.lostAll();
    settings.onError(error, true);
    reconnect();
  }

  /** The open connection, opening it if none is (or waiting for the reconnection under way). */
  const connection = async (): Promise<pg.Client> => {
    if (client) return client;
    if (connecting) return connecting;
    connecting = open().finally(() => (connecting = null));
    return connecting;
  };

  return {
    listen: async (channel: string, listener: NotificationListener): Promise<() => Promise<void>> => {
      if (closed) throw new Error('the notification listener is closed');
      identifier(channel);
      const isNew = listeners.add(channel, listener);
      try {
        const active = await connection();
        if (isNew) await active.query(`listen ${channel}`);
      } catch (error) {
        listeners.remove(channel, listener);
        throw error;
      }
      return async () => {
        if (listeners.remove(channel, listener)) await client?.query(`unlisten ${channel}`).catch(() => {});
      };
    },
    /** Test seam and metrics: whether a connection is open now. */
    connected: () => client !== null,
    close: async () => {
      closed = true;
      if (retry) clearTimeout(retry);
      const connection = client;
      client = null;
      if (connection) {
        connection.removeAllListeners('end');
        await connection.end().catch(() => {});
      }
    },
  };
}
