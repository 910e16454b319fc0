// The posts suite's event-loop part: each list, search and admin query of the API, on a SQLite database, run in a
// process of its own started as the API is (SERVER_NODE_ARGS: its V8 flags decide how long a collection pauses), and
// how long each blocked that process's event loop at most.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { setImmediate } from 'node:timers/promises';
import { embeddedPaths } from '../../server/backup.ts';
import { loadConfig } from '../../server/config.ts';
import { claimDataDir } from '../../server/control-socket.ts';
import { buildDeps, closeDeps } from '../../server/deps.ts';
import { createLogger } from '../../server/logger.ts';
import { collectStartupGarbage } from '../../server/runtime/idle-gc.ts';
import { SERVER_NODE_ARGS } from '../../server/runtime/node-args.ts';
import { listPosts } from '../../server/services/posts.ts';
import { getStats } from '../../server/services/stats.ts';
import { listTasks } from '../../server/services/tasks.ts';
import { listUsers } from '../../server/services/users.ts';
import { median } from './numbers.ts';

// Search texts: the rarest word of the seed's vocabulary (in about 4% of posts: the walk finds it), two words
// rarely side by side (a few posts per 100,000: read from the trigram index), and 1–2 characters.
export const Q_COMMON = 'xylophone';
export const Q_RARE = 'quokka xylophone';
/**
 * users.list searches on the seeded users (`seed_user_N`, `Seed User N`, created in order of N): a piece of one
 * name, found by the users' trigram index; and text of more than 1,000 users (every N starting with 1), all of them
 * older than the newest 8,000 at 10,000 users, so walked through most of the table.
 */
export const USERS_Q_RARE = 'User 4242';
export const USERS_Q_COMMON = 'user_1';

/**
 * Runs the measurement in a child process with the API's node arguments and waits for it; `label` names the
 * database in what it prints.
 */
export async function eventLoopStalls(url: string, label: string): Promise<void> {
  const child = fork(join(import.meta.dirname, 'stalls.ts'), [url, label], { cwd: join(import.meta.dirname, '..', '..'), execArgv: SERVER_NODE_ARGS, stdio: 'inherit' });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) throw new Error(`the event-loop stalls process exited with ${code}`);
}

/** Each request (and its whole response) in turn, `runs` times: milliseconds of each. */
async function timeEach(runs: number, request: () => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await request();
    times.push(performance.now() - started);
    await setImmediate();
  }
  return times;
}

/**
 * The embedded default holds the process while a query runs (better-sqlite3 is synchronous). Every case runs once
 * first, as a process just started serves them (its SQLite page cache filling, its queue thread warming up beside
 * it), and that pass's longest block and collection are printed beside the settled figures: the other suites measure
 * settled processes. Then each case in turn: its queries' own times, and the longest event-loop
 * block (perf_hooks.monitorEventLoopDelay) and garbage-collection pause while it ran.
 */
async function measure(url: string, label: string): Promise<void> {
  // The queue as `npm start` has it: PGlite in the directory beside the SQLite file, on its own thread (an
  // in-memory one runs in this thread, and its start held the loop 3.4 s in admin.stats' first queue read), with the
  // directory claimed as the API claims it, so that a server running on it is not opened under.
  const config = loadConfig({ DATABASE_URL: url, WORKER_IN_PROCESS: 'false', MIGRATE_ON_START: 'false', LOG_LEVEL: 'warn' });
  const embedded = embeddedPaths(config);
  const claim = embedded?.queueDir ? await claimDataDir(embedded.dataDir, 'the bench (event-loop stalls)') : null;
  const deps = await buildDeps(config, createLogger({ level: 'warn' }));
  try {
    // As the API does before it listens (server/main.ts), and its queue starts after that.
    collectStartupGarbage();
    await deps.queue.start();
    const { users } = deps.db.tables;
    const [someone] = await deps.db.orm.select({ id: users.id }).from(users).limit(1);
    const reader = { id: someone.id, role: 'user' as const };
    const admin = { id: someone.id, role: 'admin' as const };
    const page = { skip: 0, limit: 20 };
    const second = (await listPosts(deps, null, page)).nextCursor ?? undefined;
    const cases: [string, number, () => Promise<unknown>][] = [
      ['posts.list anonymous', 50, () => listPosts(deps, null, page)],
      ['posts.list signed in (published or own)', 50, () => listPosts(deps, reader, page)],
      ['posts.list admin (all)', 50, () => listPosts(deps, admin, page)],
      ['posts.list cursor (page 2)', 50, () => listPosts(deps, null, { ...page, cursor: second })],
      ['posts.list skip=10000', 20, () => listPosts(deps, null, { skip: 10_000, limit: 20 })],
      ['posts.list by author', 50, () => listPosts(deps, null, { ...page, authorId: someone.id })],
      [`posts.list q=${Q_COMMON} (walked)`, 50, () => listPosts(deps, null, { ...page, q: Q_COMMON })],
      [`posts.list q="${Q_RARE}" (trigram index)`, 50, () => listPosts(deps, null, { ...page, q: Q_RARE })],
      ['posts.list q=zz (2 chars, nowhere: walks all)', 3, () => listPosts(deps, null, { ...page, q: 'zz' })],
      ['posts.list q=th (2 chars, common)', 50, () => listPosts(deps, null, { ...page, q: 'th' })],
      ['users.list', 50, () => listUsers(deps, { skip: 0, limit: 100 })],
      ['users.list q=user_77', 20, () => listUsers(deps, { skip: 0, limit: 100, q: 'user_77' })],
      [`users.list q=${USERS_Q_RARE} (users' trigram index)`, 50, () => listUsers(deps, { skip: 0, limit: 20, q: USERS_Q_RARE })],
      [`users.list q=${USERS_Q_COMMON} (1,111 old users: walked)`, 20, () => listUsers(deps, { skip: 0, limit: 20, q: USERS_Q_COMMON })],
      ['tasks.list admin', 50, () => listTasks(deps, admin, page)],
      ['admin.stats', 50, () => getStats(deps)],
    ];
    // The process's own garbage collections block its loop too, whatever query runs: the longest pause in each
    // case's time is printed beside its longest block, so a block that is a collection is told from one that is a
    // query. Entries arrive some turns of the loop after their collection: each is placed by its start time.
    const collections: { start: number; duration: number }[] = [];
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) collections.push({ start: entry.startTime, duration: entry.duration });
    });
    observer.observe({ entryTypes: ['gc'] });
    const delivered = () => new Promise((resolve) => setTimeout(resolve, 20));
    /** The longest block and collection while `work` runs. */
    const watched = async (work: () => Promise<unknown>) => {
      await delivered();
      const delay = monitorEventLoopDelay({ resolution: 1 });
      const from = performance.now();
      delay.enable();
      await work();
      delay.disable();
      const to = performance.now();
      await delivered();
      const gc = Math.max(0, ...collections.filter((entry) => entry.start >= from && entry.start <= to).map((entry) => entry.duration));
      collections.length = 0;
      return { blocked: delay.max / 1e6, p99: delay.percentile(99) / 1e6, gc };
    };
    let warming = { blocked: 0, gc: 0, name: '' };
    for (const [name, , run] of cases) {
      const seen = await watched(run);
      if (seen.blocked > warming.blocked) warming = { ...seen, name };
    }
    const rows: Record<string, Record<string, number>> = {};
    let worst = { blocked: 0, gc: 0, name: '' };
    for (const [name, runs, run] of cases) {
      let times: number[] = [];
      const seen = await watched(async () => (times = await timeEach(runs, run)));
      if (seen.blocked > worst.blocked) worst = { ...seen, name };
      rows[name] = {
        runs,
        'p50 ms': Number(median(times).toFixed(2)),
        'max ms': Number(Math.max(...times).toFixed(2)),
        'loop delay p99 ms': Number(seen.p99.toFixed(1)),
        'loop delay max ms': Number(seen.blocked.toFixed(1)),
        'longest GC pause ms': Number(seen.gc.toFixed(1)),
      };
    }
    observer.disconnect();
    console.log(`\nevent-loop stalls on ${label}, queries run in a process started as the API is (${SERVER_NODE_ARGS.filter((arg) => arg.startsWith('--v8')).join(' ')}), each case once first:`);
    console.table(rows);
    console.log(`  the first pass over every case (a process just started): longest event-loop block ${warming.blocked.toFixed(1)} ms (${warming.name}; its longest GC pause ${warming.gc.toFixed(1)} ms)`);
    console.log(
      `  longest event-loop block = ${worst.blocked.toFixed(1)} ms (${worst.name}; its case's longest GC pause ${worst.gc.toFixed(1)} ms)   target ≤ 20 ms (on a busy machine a descheduled process shows here too)`,
    );
  } finally {
    await closeDeps(deps);
    await claim?.release();
  }
}

if (import.meta.main) {
  const [url, label] = process.argv.slice(2);
  await measure(url, label);
}
