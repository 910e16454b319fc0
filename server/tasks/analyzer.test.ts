// The analysis thread: real analyses off the main thread, pathological input defused, a time budget kept.
import { describe, expect, it } from 'vitest';
import { createTextAnalyzer } from './analyzer.ts';

describe('text analyzer', () => {
  it('analyzes on its thread, and keeps 100,000 characters without spaces fast', async () => {
    const analyzer = createTextAnalyzer();
    try {
      const started = performance.now();
      const [long, words] = await Promise.all([analyzer.analyze('a1b2'.repeat(25_000)), analyzer.analyze('Good news! Mail bob@example.com.')]);
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(long.characters).toBe(100_000);
      expect(words.entities).toEqual([expect.objectContaining({ type: 'EMAIL', value: 'bob@example.com' })]);
      expect(words.sentiment.label).toBe('positive');
    } finally {
      await analyzer.close();
    }
  });

  it('gives up after its time budget, and a new thread serves the next request', async () => {
    const analyzer = createTextAnalyzer({ timeoutMs: 1 });
    try {
      await expect(analyzer.analyze('some text '.repeat(10_000))).rejects.toThrow(/took longer than/);
      const patient = createTextAnalyzer();
      expect((await patient.analyze('fine')).words).toBe(1);
      await patient.close();
    } finally {
      await analyzer.close();
    }
  });

  it('stops when the job is aborted', async () => {
    const analyzer = createTextAnalyzer();
    const controller = new AbortController();
    try {
      const running = analyzer.analyze('text '.repeat(20_000), controller.signal);
      controller.abort();
      await expect(running).rejects.toThrow('analysis cancelled');
      expect((await analyzer.analyze('after')).words).toBe(1);
    } finally {
      await analyzer.close();
    }
  });
});
