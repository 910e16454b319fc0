// What the Postgres posts search index holds of a post (db/schema/pg.ts), and how a query asks it (db/index.ts).
import { sql, type SQL, type SQLWrapper } from 'drizzle-orm';

/**
 * `text` without its spaces: what the posts' trigram index holds of `search`, and what a query's text (or a piece
 * of it) is turned into to ask it. pg_trgm takes trigrams inside words only, so text of several words was found
 * by every post that holds each of its words somewhere (1,833 candidates rechecked for 22 matches of `quokka
 * xylophone` at 1,000,000 posts). Without the spaces the words run together and their trigrams join them: `kax`
 * and `axy` of `quokkaxylophone` come from `…ka x…` and `…a xy…`, or from the rarer words that hold them
 * (`galaxy`): 22 candidates there, every one a match.
 * Removing a character from both sides keeps every "contains": text that contains the query still contains it
 * after both lose their spaces. So the index only narrows, and the condition on `search` itself decides.
 * replace() costs 2–3 µs a post; the index rechecks each candidate with it.
 */
export const searchKey = (text: SQLWrapper): SQL => sql`replace(${text}, ' ', '')`;

/** The length of `text`'s key, in characters: pg_trgm can narrow a key of 3 or more only. */
export const searchKeyLength = (text: string): number => [...text.replaceAll(' ', '')].length;
