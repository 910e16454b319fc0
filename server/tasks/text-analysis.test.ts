// The text analysis itself (no thread, no database): words in every script, and cuts that keep characters whole.
import { describe, expect, it } from 'vitest';
import { analyzeText, cutLongRuns } from './text-analysis.ts';

/** Every string inside a value, at any depth. */
const stringsOf = (value: unknown): string[] =>
  typeof value === 'string' ? [value] : Array.isArray(value) ? value.flatMap(stringsOf) : value && typeof value === 'object' ? Object.values(value).flatMap(stringsOf) : [];

/** A URL whose run reaches the cut point (256 code points) exactly where the astral characters begin. */
const astralAtCut = (astral: string) => {
  const start = 'https://example.com/';
  return `${start}${'a'.repeat(255 - start.length)}${astral.repeat(20)} end`;
};

describe('text analysis', () => {
  it.each(['😀', '👍🏽', '🇩🇪', '𠀀', '𝐀'])('never splits %s at a cut: no lone surrogate in the cut text or the result', (astral) => {
    const text = astralAtCut(astral);
    const result = analyzeText(text);
    expect(stringsOf(result).filter((string) => !string.isWellFormed())).toEqual([]);
    expect(result.entities).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'URL' })]));
    expect(cutLongRuns(text).isWellFormed()).toBe(true);
    expect(cutLongRuns(text).replaceAll(' ', '')).toBe(text.replaceAll(' ', ''));
  });

  it.each([
    ['Cyrillic', 'Привет, мир! Как у тебя дела?', 6],
    ['Greek', 'Γειά σου κόσμε, τι κάνεις;', 5],
    ['Hebrew', 'שלום עולם, מה שלומך היום?', 5],
    ['Arabic', 'مرحبا بالعالم، كيف حالك اليوم؟', 5],
    ['English', 'The quick brown fox jumps over 2 lazy dogs.', 9],
  ])('counts the words of %s text', (_script, text, words) => {
    expect(analyzeText(text).words).toBe(words);
  });

  it.each([
    ['Chinese', '我喜欢学习中文。今天天气很好。'],
    ['Japanese', '東京へ行きます。天気がいいです。'],
    ['Korean', '나는 한국어를 공부합니다'],
  ])('counts the words of %s text by dictionary, neither none nor one per character', (_script, text) => {
    const { words } = analyzeText(text);
    expect(words).toBeGreaterThan(2);
    expect(words).toBeLessThan([...text].length - 2);
  });

  it('counts the words of the original text, not of the pieces a long run is cut into', () => {
    const result = analyzeText(`${'a'.repeat(1000)} and ${'😀'.repeat(600)}x`);
    expect(result.words).toBe(3);
    expect(result.characters).toBe(1000 + 5 + 601);
    expect(result.readingTimeSeconds).toBe(1);
  });
});
