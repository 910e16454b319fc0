// One memory-reducing garbage collection once a busy process goes quiet. V8's memory reducer judges the
// allocation rate by its last collections, so a process that goes idle right after load never looks idle to it:
// the load's garbage and the pages V8 pools for reuse (100+ MB after a minute of load) stayed resident until the
// next load. A regular major collection frees the garbage but keeps the pooled pages; V8's "last resort"
// collection (several full collections that also release them) brings the RSS back to its idle size, for a
// pause of some tens of milliseconds in a process that has nothing else to do. It also drops compiled code, so
// it waits for half a minute of quiet: a pause between bursts of traffic should not cost the next burst a warm-up.
/** `gc()` with the options node's --expose-gc takes (V8's GCController: type, execution, flavor). */
type Gc = (options: { type: 'major' | 'minor'; execution?: 'sync' | 'async'; flavor?: 'regular' | 'last-resort' }) => void;

/** `globalThis.gc`, there when node runs with --expose-gc (SERVER_NODE_ARGS; worker threads share the flag). */
export const exposedGc = (): Gc | undefined => (globalThis as { gc?: Gc }).gc;

/** The collection described above, on the calling thread's heap. */
export const lastResortCollection = (gc: Gc) => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });

export type IdleCollectorOptions = {
  /** How often activity is looked at. */
  periodMs?: number;
  /** Quiet periods in a row, after a busy one, before the collection. */
  quietPeriods?: number;
  /** Activity (requests, jobs) in a period that makes it busy; less is quiet (probes and scrapes are). */
  busyAt?: number;
  /** The collector: `globalThis.gc`, there when node runs with --expose-gc (SERVER_NODE_ARGS); else no-op. */
  gc?: Gc | undefined;
  /**
   * Called with each collection: other threads' heaps to collect at the same moment (each isolate collects only
   * its own; the embedded queue's PGlite thread kept what a load had grown until asked: 70–90 MiB of the process's RSS).
   */
  alsoCollect?: () => void;
};

export type IdleCollector = {
  /** One unit of work done: a request answered, a job run. */
  note: () => void;
  stop: () => void;
};

export function startIdleCollector({ periodMs = 10_000, quietPeriods = 3, busyAt = 100, gc = exposedGc(), alsoCollect }: IdleCollectorOptions = {}): IdleCollector {
  if (typeof gc !== 'function') return { note: () => {}, stop: () => {} };
  let count = 0;
  let busy = false;
  let quiet = 0;
  const timer = setInterval(() => {
    const seen = count;
    count = 0;
    if (seen >= busyAt) {
      busy = true;
      quiet = 0;
    } else if (busy && ++quiet >= quietPeriods) {
      busy = false;
      lastResortCollection(gc);
      alsoCollect?.();
    }
  }, periodMs);
  timer.unref();
  return {
    note: () => {
      count++;
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * Two young-generation collections, for the API to run once it has started and before it listens: they move what
 * start-up allocated and keeps (modules, routers, prepared statements) out of the young generation while no request
 * waits. Otherwise the first scavenges under traffic copied it: 9 MB in one pause of 23–52 ms in the event-loop
 * suite's first pass (scripts/bench/stalls.ts), against ~1 ms for a scavenge later. They cost start-up 7–11 ms.
 * Returns whether it ran (it needs --expose-gc, as SERVER_NODE_ARGS has).
 */
export function collectStartupGarbage(gc: Gc | undefined = exposedGc()): boolean {
  if (typeof gc !== 'function') return false;
  gc({ type: 'minor' });
  gc({ type: 'minor' });
  return true;
}
