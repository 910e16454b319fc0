// A single analysis thread per process, started on first use; requests queue in order. An analysis that
// outlives its time budget (or whose job is aborted) costs the thread, which is replaced on the next request.
import { Worker } from 'node:worker_threads';
import type { TextAnalyzeResult } from './types.ts';

export type TextAnalyzer = {
  analyze: (text: string, signal?: AbortSignal) => Promise<TextAnalyzeResult>;
  close: () => Promise<void>;
};

type Pending = { resolve: (result: TextAnalyzeResult) => void; reject: (error: Error) => void };

/** Well above any real input (100,000 characters take about 200 ms); a guard against pathological ones. */
export const ANALYSIS_TIMEOUT_MS = 30_000;

export function createTextAnalyzer(options: { timeoutMs?: number } = {}): TextAnalyzer {
  const timeoutMs = options.timeoutMs ?? ANALYSIS_TIMEOUT_MS;
  let worker: Worker | null = null;
  let sequence = 0;
  const pending = new Map<number, Pending>();

  const failAll = (error: Error) => {
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  };

  /** Stops the thread: whatever it was doing or had queued fails with `error`. */
  const kill = (error: Error) => {
    const thread = worker;
    worker = null;
    failAll(error);
    void thread?.terminate();
  };

  const start = (): Worker => {
    const thread = new Worker(new URL('./analysis-thread.ts', import.meta.url));
    thread.unref();
    thread.on('message', ({ id, result, error }: { id: number; result?: TextAnalyzeResult; error?: string }) => {
      const request = pending.get(id);
      if (!request) return;
      pending.delete(id);
      if (error !== undefined) request.reject(new Error(error));
      else request.resolve(result as TextAnalyzeResult);
    });
    // A crashed thread fails what it held; the next request starts a new one.
    thread.on('error', (error: Error) => {
      if (worker === thread) kill(error);
    });
    thread.on('exit', (code) => {
      if (worker === thread) kill(new Error(`analysis thread exited with code ${code}`));
    });
    return thread;
  };

  return {
    analyze: (text, signal) =>
      new Promise((resolve, reject) => {
        if (signal?.aborted) return reject(new Error('analysis cancelled'));
        worker ??= start();
        const id = ++sequence;
        const timer = setTimeout(() => kill(new Error(`analysis took longer than ${timeoutMs / 1000} s`)), timeoutMs);
        timer.unref();
        const onAbort = () => kill(new Error('analysis cancelled'));
        signal?.addEventListener('abort', onAbort, { once: true });
        const settle = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        };
        pending.set(id, {
          resolve: (result) => {
            settle();
            resolve(result);
          },
          reject: (error) => {
            settle();
            reject(error);
          },
        });
        worker.postMessage({ id, text });
      }),
    close: async () => {
      const thread = worker;
      worker = null;
      failAll(new Error('analysis stopped'));
      if (thread) await thread.terminate();
    },
  };
}
