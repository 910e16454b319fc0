-- The posts search index holds `search` with its spaces made `0`s (db/schema/pg-search-key.ts). pg_trgm takes
-- trigrams inside words only: text of several words was found by every post holding each of its words somewhere
-- (1,833 candidates rechecked for 22 matches at 1,000,000 posts); now the trigrams across the spaces between the
-- words narrow it too. The build reads every post: no statement timeout for it.
SET LOCAL statement_timeout = 0;--> statement-breakpoint
SET LOCAL maintenance_work_mem = '256MB';--> statement-breakpoint
DROP INDEX "posts_search_trgm_idx";--> statement-breakpoint
CREATE INDEX "posts_search_trgm_idx" ON "posts" USING gin (replace("search", ' ', '0') gin_trgm_ops);
