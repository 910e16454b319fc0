// What both posts search indexes hold of a post, and how a query asks them (db/index.ts): Postgres' GIN index
// (db/schema/pg.ts), and SQLite's posts_fts (its migration 0011 and db.bulkLoadPosts, which write the same key in SQL).
import { sql, type SQL, type SQLWrapper } from 'drizzle-orm';

/**
 * `text` without its spaces: what the posts' trigram indexes hold of `search`, and what a query's text (or a piece
 * of it) is turned into to ask them. pg_trgm takes trigrams inside words only, so text of several words was found
 * by every post that holds each of its words somewhere (1,833 candidates rechecked for 22 matches of `quokka
 * xylophone` at 1,000,000 posts); FTS5 took the boundary's own trigrams (`ka `, ` xy`), in some 40,000 posts each.
 * Without the spaces the words run together and their trigrams join them: `kax` and `axy` of `quokkaxylophone`
 * come from `…ka x…` and `…a xy…`, or from the rarer words that hold them (`galaxy`): 22 candidates there, every
 * one a match. Removing a character from both sides keeps every "contains": text that contains the query still
 * contains it after both lose their spaces. So an index only narrows, and the condition on `search` itself decides.
 * replace() costs 2–3 µs a post; pg_trgm rechecks each candidate with it.
 */
export const searchKey = (text: SQLWrapper): SQL => sql`replace(${text}, ' ', '')`;

/** searchKey of a query's text (or a piece of it), in JavaScript. */
export const searchKeyOf = (text: string): string => text.replaceAll(' ', '');

/** The length of `text`'s key, in characters: an index can narrow with a key of 3 or more only (one trigram). */
export const searchKeyLength = (text: string): number => [...searchKeyOf(text)].length;
