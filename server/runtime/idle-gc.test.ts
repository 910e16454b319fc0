// The idle collector: one major collection after a busy period, none while busy, quiet or trickling (probes).
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { collectStartupGarbage, startIdleCollector } from './idle-gc.ts';

describe('startIdleCollector', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('collects once, after enough quiet periods in a row that follow a busy one', () => {
    const gc = vi.fn();
    const collector = startIdleCollector({ periodMs: 1000, quietPeriods: 2, busyAt: 10, gc });
    for (let period = 0; period < 3; period++) {
      for (let i = 0; i < 10; i++) collector.note();
      vi.advanceTimersByTime(1000);
    }
    expect(gc).not.toHaveBeenCalled();
    collector.note(); // a probe: still quiet
    vi.advanceTimersByTime(1000);
    expect(gc).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1000);
    expect(gc).toHaveBeenCalledTimes(1);
    expect(gc).toHaveBeenCalledWith({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    vi.advanceTimersByTime(10_000);
    expect(gc).toHaveBeenCalledTimes(1);
    collector.stop();
  });

  it('waits again when traffic comes back before the quiet is long enough', () => {
    const gc = vi.fn();
    const collector = startIdleCollector({ periodMs: 1000, quietPeriods: 2, busyAt: 10, gc });
    for (let i = 0; i < 10; i++) collector.note();
    vi.advanceTimersByTime(1000); // busy
    vi.advanceTimersByTime(1000); // one quiet period
    for (let i = 0; i < 10; i++) collector.note();
    vi.advanceTimersByTime(1000); // busy again
    vi.advanceTimersByTime(1000); // one quiet period
    expect(gc).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1000);
    expect(gc).toHaveBeenCalledTimes(1);
    collector.stop();
  });

  it('never collects a process that was never busy', () => {
    const gc = vi.fn();
    const collector = startIdleCollector({ periodMs: 1000, quietPeriods: 2, busyAt: 10, gc });
    for (let period = 0; period < 5; period++) {
      for (let i = 0; i < 9; i++) collector.note();
      vi.advanceTimersByTime(1000);
    }
    expect(gc).not.toHaveBeenCalled();
    collector.stop();
  });

  it('asks the other threads to collect with each collection, and only then', () => {
    const gc = vi.fn();
    const alsoCollect = vi.fn();
    const collector = startIdleCollector({ periodMs: 1000, quietPeriods: 1, busyAt: 10, gc, alsoCollect });
    for (let i = 0; i < 10; i++) collector.note();
    vi.advanceTimersByTime(1000); // busy
    expect(alsoCollect).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1000); // quiet: the collection
    expect(gc).toHaveBeenCalledTimes(1);
    expect(alsoCollect).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(5000);
    expect(alsoCollect).toHaveBeenCalledTimes(1);
    collector.stop();
  });

  it('does nothing without a collector (node started without --expose-gc)', () => {
    const collector = startIdleCollector({ gc: undefined });
    collector.note();
    collector.stop();
  });
});

describe('collectStartupGarbage', () => {
  it('moves what is still alive out of the young generation, keeping it', () => {
    // The real collector, as --expose-gc gives it to the API.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as Parameters<typeof collectStartupGarbage>[0];
    const youngUsed = () => getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_used_size ?? 0;
    const kept = Array.from({ length: 20_000 }, (_, i) => ({ i, name: `kept ${i}` }));
    const before = youngUsed();
    expect(before).toBeGreaterThan(500_000);
    expect(collectStartupGarbage(gc)).toBe(true);
    // One collection only moves survivors within the young generation (here ~10% of them stayed); the second
    // promotes them all.
    expect(youngUsed()).toBeLessThan(before / 100);
    expect(kept[19_999].name).toBe('kept 19999');
    expect(collectStartupGarbage(undefined)).toBe(false);
  });
});
