// Load shedding: when the event loop lags (every request waits behind the others), new API requests get a quick
// 503 with Retry-After instead of a place in a queue that only grows. Probes are served before this check.
import type { RequestHandler } from 'express';
import { sendError } from './errors.ts';

/**
 * The lag to shed at: OVERLOAD_EVENT_LOOP_DELAY_MS, else 100 ms, or 500 ms where the job queue is PGlite in this
 * process (the embedded default). That figure was measured (`npm run bench -- --suite=soak`) while PGlite ran each of
 * pg-boss's statements on the event loop, lagging it past 100 ms at half the capacity of such a process; the
 * embedded queue on disk now runs on a worker thread of its own (jobs/pglite-remote.ts), and until a soak run says
 * otherwise the threshold stays where it was measured. Jobs still run on the event loop.
 */
export function sheddingThresholdMs(configured: number | undefined, queue: 'pglite' | 'postgres'): number {
  return configured ?? (queue === 'pglite' ? 500 : 100);
}

/** How often the lag is judged: each verdict covers the last window. */
const WINDOW_MS = 250;
/** How often a timer checks how late it runs. */
const TICK_MS = 50;

export type EventLoopLag = {
  /**
   * The lag sustained over the last two windows (500 ms), in ms: the smaller of the two windows' worst delay of
   * a timer. One stall (a descheduled process on a busy machine, a garbage collection) is not overload.
   */
  readonly lagMs: number;
};

let shared: EventLoopLag | null = null;

/**
 * The process's event-loop lag, measured once however many apps ask (tests build many): a timer every 50 ms
 * notes how late it fires, and every 250 ms the worst of those closes a window. Its timer keeps nothing alive.
 */
export function eventLoopLag(): EventLoopLag {
  if (shared) return shared;
  let expected = performance.now() + TICK_MS;
  let windowStart = performance.now();
  let worst = 0;
  let previous = 0;
  let last = 0;
  setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - expected);
    expected = now + TICK_MS;
    if (now - windowStart < WINDOW_MS) return;
    previous = last;
    last = worst;
    worst = 0;
    windowStart = now;
  }, TICK_MS).unref();
  shared = {
    get lagMs() {
      return Math.min(previous, last);
    },
  };
  return shared;
}

/**
 * Refuses requests with 503 SERVICE_UNAVAILABLE and `Retry-After: 1` while the event loop's lag is over
 * `thresholdMs`. `onShed` counts them.
 */
export function shedLoad(lag: EventLoopLag, thresholdMs: number, onShed: () => void): RequestHandler {
  return (req, res, next) => {
    if (lag.lagMs <= thresholdMs) {
      next();
      return;
    }
    onShed();
    res.setHeader('retry-after', '1');
    sendError(req, res, 'SERVICE_UNAVAILABLE', 'the server is overloaded; retry shortly');
  };
}
