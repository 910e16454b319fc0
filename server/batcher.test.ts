// Group commit: one flush per turn of the event loop, bounded in size, and failures isolated per item.
import { describe, expect, it } from 'vitest';
import { createBatcher } from './batcher.ts';

describe('batcher', () => {
  it('flushes what arrives in one turn together, in batches of at most maxSize, results in order', async () => {
    const flushes: number[][] = [];
    const batcher = createBatcher(async (items: number[]) => {
      flushes.push(items);
      return items.map((n) => n * 10);
    }, { maxSize: 4 });
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => batcher.add(n)));
    expect(results).toEqual([10, 20, 30, 40, 50, 60]);
    expect(flushes).toEqual([[1, 2, 3, 4], [5, 6]]);
    expect(await batcher.add(7)).toBe(70);
    expect(flushes.at(-1)).toEqual([7]);
  });

  it('retries each item alone when a shared flush fails, so only the bad one fails', async () => {
    const batcher = createBatcher(async (items: number[]) => {
      if (items.includes(13)) throw new Error(`unlucky batch of ${items.length}`);
      return items;
    }, { maxSize: 10 });
    const results = await Promise.allSettled([1, 13, 2].map((n) => batcher.add(n)));
    expect(results).toEqual([
      { status: 'fulfilled', value: 1 },
      { status: 'rejected', reason: new Error('unlucky batch of 1') },
      { status: 'fulfilled', value: 2 },
    ]);
  });
});
