// text.analyze: counts, reading time, keywords, sentiment and entities, with winkNLP's bundled English model.
import winkNLP, { type ItemToken } from 'wink-nlp';
import model from 'wink-eng-lite-web-model';
import type { TextAnalyzeResult } from './types.ts';

/** Average adult silent-reading speed (Brysbaert, 2019). */
const WORDS_PER_MINUTE = 238;
const KEYWORDS = 10;
const ENTITIES = 50;

/**
 * winkNLP's tokenizer is quadratic in the length of a run without whitespace (100,000 such characters take
 * 20 s, 'a1b2…' over 90 s), so such runs are cut into pieces of this many code points before tokenizing. Real
 * words, URLs and e-mail addresses are far shorter; counts still come from the original text. The `u` flag
 * makes both patterns step by code point, so a cut never splits a surrogate pair (an emoji, say) into two
 * lone halves, which would end up in the result (Postgres' jsonb refuses them).
 */
const LONGEST_RUN = 256;
const longRuns = new RegExp(`\\S{${LONGEST_RUN + 1},}`, 'gu');
const piece = new RegExp(`.{1,${LONGEST_RUN}}`, 'gsu');
export const cutLongRuns = (text: string) => text.replace(longRuns, (run) => run.match(piece)!.join(' '));

/**
 * Words by Unicode word boundaries (UAX #29, with dictionaries for Chinese, Japanese, Thai…): winkNLP's
 * English tokenizer finds none in Cyrillic, Greek, CJK, Hebrew or Arabic text. The root locale, so the count
 * does not depend on the machine's. Numbers count as words.
 */
const wordSegmenter = new Intl.Segmenter('und', { granularity: 'word' });
export function countWords(text: string): number {
  let words = 0;
  for (const segment of wordSegmenter.segment(text)) if (segment.isWordLike) words++;
  return words;
}

let nlp: ReturnType<typeof winkNLP> | undefined;

/** Pure and synchronous (CPU-bound): run it off the event loop, in the analysis thread. */
export function analyzeText(text: string): TextAnalyzeResult {
  nlp ??= winkNLP(model);
  const { its } = nlp;
  const doc = nlp.readDoc(cutLongRuns(text));

  const frequencies = new Map<string, number>();
  doc.tokens().each((token: ItemToken) => {
    if (token.out(its.type) !== 'word') return;
    if (token.out(its.stopWordFlag)) return;
    const term = String(token.out(its.normal));
    if (term.length < 3) return;
    frequencies.set(term, (frequencies.get(term) ?? 0) + 1);
  });
  const ranked = [...frequencies].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, KEYWORDS);
  const top = ranked[0]?.[1] ?? 1;

  const entityCounts = new Map<string, { type: string; value: string; count: number }>();
  for (const entity of doc.entities().out(its.detail) as unknown as { type: string; value: string }[]) {
    const key = `${entity.type}\u0000${entity.value}`;
    const seen = entityCounts.get(key);
    if (seen) seen.count++;
    else entityCounts.set(key, { type: entity.type, value: entity.value, count: 1 });
  }

  const score = Number(doc.out(its.sentiment)) || 0;
  // From the original text: cutting long runs must not multiply them.
  const words = countWords(text);
  return {
    characters: [...text].length,
    words,
    sentences: doc.sentences().length(),
    readingTimeSeconds: Math.ceil((words / WORDS_PER_MINUTE) * 60),
    keywords: ranked.map(([term, count]) => ({ term, count, score: Math.round((count / top) * 1000) / 1000 })),
    sentiment: { score: Math.round(score * 1000) / 1000, label: score > 0.05 ? 'positive' : score < -0.05 ? 'negative' : 'neutral' },
    entities: [...entityCounts.values()].sort((a, b) => b.count - a.count || a.type.localeCompare(b.type)).slice(0, ENTITIES),
  };
}
