// The analysis thread: one per process, started on first use, given one analysis at a time. Each analysis is
// timed from its own start; one that outlives its budget (or whose job is aborted) costs the thread, which is
// replaced for the analyses waiting behind it: they are not failed with it.
import { Worker } from 'node:worker_threads';
import { TaskError } from '../errors.ts';
import type { TextAnalyzeResult } from './types.ts';

export type TextAnalyzer = {
  analyze: (text: string, signal?: AbortSignal) => Promise<TextAnalyzeResult>;
  close: () => Promise<void>;
};

type Request = {
  id: number;
  text: string;
  signal: AbortSignal | undefined;
  resolve: (result: TextAnalyzeResult) => void;
  reject: (error: Error) => void;
};

/** Well above any real input (100,000 characters take about 200 ms); a guard against pathological ones. */
export const ANALYSIS_TIMEOUT_MS = 30_000;

export function createTextAnalyzer(options: { timeoutMs?: number } = {}): TextAnalyzer {
  const timeoutMs = options.timeoutMs ?? ANALYSIS_TIMEOUT_MS;
  let worker: Worker | null = null;
  /** Whether the thread has loaded its model (analyses are handed over only then). */
  let ready = false;
  let sequence = 0;
  let closed = false;
  const waiting: Request[] = [];
  /** The analysis on the thread now, and the timer that bounds it. */
  let current: { request: Request; timer: NodeJS.Timeout; onAbort: () => void } | null = null;

  /** Ends the current analysis with `outcome`, and hands the thread the next one. */
  const finish = (outcome: { result: TextAnalyzeResult } | { error: Error }) => {
    if (!current) return;
    const { request, timer, onAbort } = current;
    current = null;
    clearTimeout(timer);
    request.signal?.removeEventListener('abort', onAbort);
    if ('error' in outcome) request.reject(outcome.error);
    else request.resolve(outcome.result);
    next();
  };

  /** Stops the thread (the next analysis starts a new one), failing only the analysis it was running. */
  const kill = (error: Error) => {
    const thread = worker;
    worker = null;
    ready = false;
    void thread?.terminate();
    if (current) return finish({ error });
    // It died starting: the analysis next in line fails (not all of them), so a broken thread is not restarted forever.
    waiting.shift()?.reject(error);
    next();
  };

  const start = (): Worker => {
    const thread = new Worker(new URL('./analysis-thread.ts', import.meta.url));
    thread.unref();
    thread.on('message', ({ id, result, error, ready: started }: { id?: number; result?: TextAnalyzeResult; error?: string; ready?: boolean }) => {
      if (worker !== thread) return;
      if (started) {
        ready = true;
        next();
        return;
      }
      if (current?.request.id !== id) return;
      finish(error !== undefined ? { error: new Error(error) } : { result: result as TextAnalyzeResult });
    });
    // A crashed thread fails the analysis it held; the next one starts a new thread.
    thread.on('error', (error: Error) => {
      if (worker === thread) kill(error);
    });
    thread.on('exit', (code) => {
      if (worker === thread) kill(new Error(`analysis thread exited with code ${code}`));
    });
    return thread;
  };

  function next(): void {
    if (current || closed) return;
    // Requests whose jobs were aborted while they waited have already been answered.
    while (waiting[0]?.signal?.aborted) waiting.shift();
    if (waiting.length === 0) return;
    worker ??= start();
    if (!ready) return;
    const request = waiting.shift()!;
    // The budget starts now, when this analysis starts, not when it was queued behind others.
    const timer = setTimeout(() => kill(new TaskError(`analysis took longer than ${timeoutMs / 1000} s`)), timeoutMs);
    timer.unref();
    const onAbort = () => kill(new TaskError('analysis cancelled'));
    request.signal?.addEventListener('abort', onAbort, { once: true });
    current = { request, timer, onAbort };
    worker.postMessage({ id: request.id, text: request.text });
  }

  return {
    analyze: (text, signal) =>
      new Promise((resolve, reject) => {
        if (closed) return reject(new Error('analysis stopped'));
        if (signal?.aborted) return reject(new TaskError('analysis cancelled'));
        const request: Request = { id: ++sequence, text, signal, resolve, reject };
        // Aborted while waiting: it leaves the line, and the thread is not disturbed.
        signal?.addEventListener(
          'abort',
          () => {
            const index = waiting.indexOf(request);
            if (index === -1) return;
            waiting.splice(index, 1);
            reject(new TaskError('analysis cancelled'));
          },
          { once: true },
        );
        waiting.push(request);
        next();
      }),
    close: async () => {
      closed = true;
      const thread = worker;
      worker = null;
      ready = false;
      const stopped = new Error('analysis stopped');
      for (const request of waiting.splice(0)) request.reject(stopped);
      finish({ error: stopped });
      if (thread) await thread.terminate();
    },
  };
}
