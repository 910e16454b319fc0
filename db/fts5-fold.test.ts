// fts5FoldsAlike against the FTS5 this build of better-sqlite3 links: every character whose case FTS5 folds
// otherwise than JavaScript is one it refuses. (SQLite only: it tests FTS5's tokenizer, not a service.)
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { fts5FoldsAlike } from './fts5-fold.ts';

describe('fts5FoldsAlike', () => {
  it('refuses every character FTS5 folds apart from JavaScript, and no ASCII', () => {
    const db = new Database(':memory:');
    try {
      // The tokenizer of both search indexes (migrations: posts_fts 0011, users_fts 0012).
      db.exec("create virtual table probe using fts5(text, content='', contentless_delete=1, tokenize='trigram case_sensitive 0 remove_diacritics 0')");
      const pairs: { upper: string; lower: string }[] = [];
      for (let code = 0x80; code <= 0x10ffff; code++) {
        if (code >= 0xd800 && code <= 0xdfff) continue;
        const upper = String.fromCodePoint(code);
        const lower = upper.toLowerCase();
        if (lower !== upper) pairs.push({ upper, lower });
      }
      const insert = db.prepare('insert into probe(rowid, text) values (?, ?)');
      db.transaction(() => pairs.forEach(({ upper, lower }, i) => (insert.run(2 * i + 1, `q${upper}z`), insert.run(2 * i + 2, `q${lower}z`))))();
      const found = db.prepare('select rowid from probe where probe match ?').pluck();
      const phrase = (text: string) => `"q${text.replaceAll('"', '""')}z"`;
      const apart = pairs.filter(({ upper, lower }, i) => {
        const byLower = found.all(phrase(lower)) as number[];
        const byUpper = found.all(phrase(upper)) as number[];
        return !byLower.includes(2 * i + 1) || !byUpper.includes(2 * i + 2);
      });
      // This FTS5 does fold most letters outside ASCII (É, Ж, Σ): the check would be vacuous otherwise.
      expect(pairs.length - apart.length).toBeGreaterThan(1000);
      const unrefused = apart.filter(({ upper, lower }) => fts5FoldsAlike(upper) || [...lower].some((char) => char > '\x7f' && fts5FoldsAlike(char)));
      expect(unrefused.map(({ upper }) => `U+${upper.codePointAt(0)!.toString(16)}`)).toEqual([]);
      for (let code = 0x20; code < 0x7f; code++) expect(fts5FoldsAlike(String.fromCharCode(code))).toBe(true);
      expect(fts5FoldsAlike('Élodie Ärger Иван Ελένη 日本 𝄞')).toBe(true);
      expect(fts5FoldsAlike('ᏣᎳᎩ')).toBe(false);
    } finally {
      db.close();
    }
  });
});
