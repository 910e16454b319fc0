-- users.list `q` (a substring of the username, e-mail or full name) served by trigram indexes, one per column, as
-- posts' is (pg_trgm, migration 0002): the search ORs a LIKE on each column (ILIKE on the name), which Postgres
-- answers with a BitmapOr of the three, where it walked every user before. The builds read every user and hold
-- writes to users meanwhile, not reads; no statement timeout for them.
SET LOCAL statement_timeout = 0;--> statement-breakpoint
SET LOCAL maintenance_work_mem = '256MB';--> statement-breakpoint
CREATE INDEX "users_username_key_trgm_idx" ON "users" USING gin ("username_key" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "users_email_trgm_idx" ON "users" USING gin ("email" gin_trgm_ops);--> statement-breakpoint
CREATE INDEX "users_full_name_trgm_idx" ON "users" USING gin ("full_name" gin_trgm_ops);
