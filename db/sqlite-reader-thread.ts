// A read-only connection to the app's SQLite file on a thread of its own (started by db/sqlite-reader.ts): the
// statements sent here run off the event loop that serves requests.
import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import type { ReaderRequest, ReaderResponse } from './sqlite-reader.ts';
import { planOnce } from './sqlite-plan-once.ts';
import { defineLowerUnicode } from './sqlite-lower-unicode.ts';

const port = parentPort!;
const { path } = workerData as { path: string };

const db = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = 5000');
// The same page cache as the main connection's (db/sqlite.ts): a search at 1,000,000 posts reads far more than
// SQLite's 2 MiB default. Taken only as pages are read.
db.pragma('cache_size = -65536');
defineLowerUnicode(db);

const STATEMENT_CACHE_SIZE = 50;
const statements = new Map<string, BetterSqlite3.Statement<unknown[]>>();

function prepared(text: string): BetterSqlite3.Statement<unknown[]> {
  let statement = statements.get(text);
  if (!statement) {
    statement = db.prepare<unknown[]>(planOnce(text));
    if (statement.reader) statement.raw(true);
    if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value as string);
    statements.set(text, statement);
  }
  return statement;
}

const reply = (message: ReaderResponse) => port.postMessage(message);

port.on('message', (request: ReaderRequest) => {
  try {
    const statement = prepared(request.text);
    // A statement that returns no rows runs for its error: the connection is read-only.
    const rows = statement.reader ? (statement.all(...request.params) as unknown[][]) : (statement.run(...request.params), []);
    reply({ id: request.id, rows });
  } catch (error) {
    const { message, code } = error as { message?: string; code?: unknown };
    reply({ id: request.id, error: { message: String(message ?? error), code: typeof code === 'string' ? code : undefined } });
  }
});
