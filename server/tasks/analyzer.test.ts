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

  it('fails only the analysis that outlives its budget: the ones queued behind it run on a new thread', async () => {
    // Two hundred times the whole input limit (20 MB) takes far longer than the 2 s budget on any machine (2 MB once
    // finished within it on a quiet one); the budget ends it either way. 'fine' takes well under a millisecond.
    const endless = 'The analytical engine weaves algebraic patterns. '.repeat(400_000);
    const analyzer = createTextAnalyzer({ timeoutMs: 2_000 });
    try {
      const outcomes = await Promise.allSettled([analyzer.analyze(endless), analyzer.analyze('fine'), analyzer.analyze('also fine')]);
      expect(outcomes[0]).toMatchObject({ status: 'rejected', reason: expect.objectContaining({ message: 'analysis took longer than 2 s' }) });
      expect(outcomes.slice(1).map((outcome) => outcome.status === 'fulfilled' && outcome.value.words)).toEqual([1, 2]);
    } finally {
      await analyzer.close();
    }
  });

  it('times each analysis from its own start, not from when it was queued', async () => {
    const text = 'The analytical engine weaves algebraic patterns just as the Jacquard loom weaves flowers. '.repeat(1_200);
    const patient = createTextAnalyzer();
    let single: number;
    try {
      await patient.analyze('warm up');
      const started = performance.now();
      await patient.analyze(text);
      single = performance.now() - started;
    } finally {
      await patient.close();
    }
    // Each analysis gets five times what one took; fifteen of them in a row take three times that budget.
    const timeoutMs = Math.max(500, Math.ceil(single * 5));
    const analyzer = createTextAnalyzer({ timeoutMs });
    try {
      const outcomes = await Promise.allSettled(Array.from({ length: 15 }, () => analyzer.analyze(text)));
      expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toEqual([]);
    } finally {
      await analyzer.close();
    }
  });

  it('takes an analysis whose job is aborted while it waits out of the line, without stopping the one running', async () => {
    const analyzer = createTextAnalyzer();
    const controller = new AbortController();
    try {
      const running = analyzer.analyze('text '.repeat(20_000));
      const waiting = analyzer.analyze('never analyzed', controller.signal);
      controller.abort();
      await expect(waiting).rejects.toThrow('analysis cancelled');
      expect((await running).words).toBe(20_000);
    } finally {
      await analyzer.close();
    }
  });
});
