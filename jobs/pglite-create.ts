// Creates the embedded queue's PGlite database (initdb) in a process of its own, which exits when it is done:
// started by jobs/pglite-remote.ts on a first run. Arguments: the directory, then PGlite's settings as JSON.
import { PGlite } from '@electric-sql/pglite';

const [dataDir, settings] = process.argv.slice(2);
const db = await PGlite.create({ dataDir, startParams: [...PGlite.defaultStartParams, ...(JSON.parse(settings) as string[])] });
await db.close();
