// What the Postgres posts search index holds of a post (db/schema/pg.ts), and how a query asks it (db/index.ts).
import { sql, type SQL, type SQLWrapper } from 'drizzle-orm';

/**
 * `text` with its spaces made `0`s: what the posts' trigram index holds of `search`, and what a query's text is
 * turned into to ask it. pg_trgm takes trigrams inside words only, so text of several words was found by every
 * post holding each of its words somewhere (1,833 candidates rechecked for 22 matches at 1,000,000 posts); with
 * the spaces made letters of a word, the trigrams across them narrow it too. One character for one: text that
 * contains the query still contains it after both are keyed, so the index only narrows, and the condition on
 * `search` itself decides. Spaces only: replace() costs 2–3 µs a post where a regular expression over every
 * character that is not a letter or digit cost 22 µs, and the index rechecks each candidate with it.
 */
export const searchKey = (text: SQLWrapper): SQL => sql`replace(${text}, ' ', '0')`;
