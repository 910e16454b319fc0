// Creates the embedded queue's PGlite database (initdb) in a process of its own, which exits when it is done or when
// its parent is gone: started by jobs/pglite-remote.ts on a first run. Arguments: the directory, then PGlite's settings as JSON.
import { PGlite } from '@electric-sql/pglite';

const [dataDir, settings] = process.argv.slice(2);
// The parent holds our stdin open for as long as it lives: its end means the parent is gone (killed during a first
// run), and a database made for nobody would only keep writing beside the one the next start makes.
process.stdin.on('end', () => process.exit(1));
process.stdin.resume();
const db = await PGlite.create({ dataDir, startParams: [...PGlite.defaultStartParams, ...(JSON.parse(settings) as string[])] });
await db.close();
process.exit(0);
