// Group commit: items that arrive in the same turn of the event loop are handled by one flush (one
// transaction for many requests). If a shared flush fails, each item is retried alone, so one bad item
// fails only its own caller.
export type Batcher<I, O> = { add: (item: I) => Promise<O> };

type Pending<I, O> = { item: I; resolve: (value: O) => void; reject: (error: unknown) => void };

export function createBatcher<I, O>(flush: (items: I[]) => Promise<O[]>, options: { maxSize: number }): Batcher<I, O> {
  let pending: Pending<I, O>[] = [];
  let scheduled = false;

  async function run(batch: Pending<I, O>[]): Promise<void> {
    try {
      const results = await flush(batch.map((entry) => entry.item));
      batch.forEach((entry, i) => entry.resolve(results[i]));
    } catch (error) {
      if (batch.length === 1) return batch[0].reject(error);
      await Promise.all(batch.map((entry) => run([entry])));
    }
  }

  const drain = () => {
    scheduled = false;
    const batch = pending;
    pending = [];
    for (let i = 0; i < batch.length; i += options.maxSize) void run(batch.slice(i, i + options.maxSize));
  };

  return {
    add: (item) =>
      new Promise<O>((resolve, reject) => {
        pending.push({ item, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(drain);
        }
      }),
  };
}
