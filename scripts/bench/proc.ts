// What the benchmark reads about processes from /proc (Linux; elsewhere these read 0), and how it stops them.
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * SIGTERM, then SIGKILL for a child still running 30 s later: a hung process (one whose main thread spins in native
 * code never runs its SIGTERM handler) would otherwise outlive the bench and take a core from every later run.
 */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    console.error(`pid ${child.pid} still running 30 s after SIGTERM: killed`);
    child.kill('SIGKILL');
  }, 30_000);
  await exited;
  clearTimeout(timer);
}

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
