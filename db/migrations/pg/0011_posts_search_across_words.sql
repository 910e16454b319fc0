-- The posts search index holds `search` without its spaces (db/schema/pg-search-key.ts). pg_trgm takes trigrams
-- inside words only: text of several words was found by every post that holds each of its words somewhere (1,833
-- candidates rechecked for 22 matches at 1,000,000 posts); with the words run together, trigrams join them too.
-- The new index is built beside the old one, which serves searches until the swap at the end: the build reads
-- every post (30 s at 1,000,000 posts on the 2-core development machine) and holds writes to posts meanwhile, not
-- reads; no statement timeout for it. Then the planner's statistics of the new expression (a sample of rows). The
-- swap locks posts until the migrations commit, right after: if other transactions keep it from that lock for 10 s
-- (a long read, or one that read posts and now waits to write them), the migration fails and changes nothing.
SET LOCAL statement_timeout = 0;--> statement-breakpoint
SET LOCAL maintenance_work_mem = '256MB';--> statement-breakpoint
CREATE INDEX "posts_search_key_trgm_idx" ON "posts" USING gin (replace("search", ' ', '') gin_trgm_ops);--> statement-breakpoint
ANALYZE "posts";--> statement-breakpoint
SET LOCAL lock_timeout = '10s';--> statement-breakpoint
DROP INDEX "posts_search_trgm_idx";--> statement-breakpoint
ALTER INDEX "posts_search_key_trgm_idx" RENAME TO "posts_search_trgm_idx";
