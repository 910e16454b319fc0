// What the benchmark reads about processes from /proc (Linux; elsewhere these read 0).
import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time Postgres has spent so far on this machine, in µs: every `postgres` process's own time plus that of its
 * children that have exited (the postmaster reaps the backends of closed connections, so their time stays counted).
 * Anything else the same server does counts too: compare runs on a machine where nothing else uses it.
 */
export function postgresCpuMicros(): number {
  let ticks = 0;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (!stat.includes(' (postgres) ')) continue;
      // After the command: state, ppid, …; utime, stime, cutime, cstime are fields 14–17 of the line.
      const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    } catch {
      // The process ended meanwhile: its time is in its parent's children's time now.
    }
  }
  return (ticks * 1e6) / 100;
}
