// Which text SQLite's FTS5 trigram indexes (case_sensitive 0) can be asked with: those that fold case as the searches' own test does.

/**
 * Characters whose case FTS5's folding (a Unicode table older than JavaScript's) and JavaScript's toLowerCase() (the
 * searches' own test on SQLite, lower_unicode) disagree on, found by asking FTS5 (db/fts5-fold.test.ts): upper-case
 * letters FTS5 does not fold (Cherokee, Georgian Mtavruli, Osage, Vithkuqi, …) and the lower-case letters JavaScript
 * folds them to, and U+0130 (İ), which JavaScript lower-cases to two characters (i and U+0307). An index asked with
 * text holding one of them could miss a row the test would find (`ꭰꭱꭲ` in a name written `ᎠᎡᎢ`): such text is
 * walked instead. Text ending in a plain `i` can still match a row's İ (JavaScript: `ayi` in `Ayİ`, lower-cased
 * `ayi̇`): users_fts holds names with İ written as JavaScript lower-cases it (migration 0012); posts_fts does not,
 * so posts' search walks non-ASCII text ending in i (`éi` in `éİ`; its ASCII text is tested with A–Z folding only).
 */
const FOLDS_APART =
  /[\u{130}\u{19b}\u{25c}\u{261}\u{264}\u{26a}\u{26c}\u{282}\u{287}\u{29d}-\u{29e}\u{37f}\u{3f3}\u{528}-\u{52f}\u{10d0}-\u{10fa}\u{10fd}-\u{10ff}\u{13a0}-\u{13f5}\u{13f8}-\u{13fd}\u{1c89}-\u{1c8a}\u{1c90}-\u{1cba}\u{1cbd}-\u{1cbf}\u{1d8e}\u{2c2f}\u{2c5f}\u{a698}-\u{a69b}\u{a794}\u{a796}-\u{a79f}\u{a7ab}-\u{a7ae}\u{a7b0}-\u{a7dc}\u{a7f5}-\u{a7f6}\u{ab53}\u{ab70}-\u{abbf}\u{104b0}-\u{104d3}\u{104d8}-\u{104fb}\u{10570}-\u{105bc}\u{10c80}-\u{10cb2}\u{10cc0}-\u{10cf2}\u{10d50}-\u{10d65}\u{10d70}-\u{10d85}\u{118a0}-\u{118df}\u{16e40}-\u{16e7f}\u{16ea0}-\u{16eb8}\u{16ebb}-\u{16ed3}\u{1e900}-\u{1e943}]|\u{307}/u;

/** Whether an FTS5 trigram index finds every row whose text contains `text` case-insensitively as JavaScript folds case. */
export const fts5FoldsAlike = (text: string): boolean => !FOLDS_APART.test(text);
