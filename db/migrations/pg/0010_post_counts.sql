-- Counts of posts kept by triggers in the writing statement's transaction, as on SQLite (its migration 0009), so
-- that a list's total stops at the kept count (db.keptCount) instead of reading 1,001 index entries per page,
-- and admin.stats reads them instead of counting every post. Names: posts, posts.published. A count is the sum
-- of its shards: each writing connection adds to the shard of its backend, so concurrent writers do not queue on
-- one row's lock. Statement triggers with transition tables: a multi-row insert adds once. Not drizzle schema; a
-- migration that rebuilds posts must recreate its triggers.
CREATE TABLE "table_counts" (
	"name" text NOT NULL,
	"shard" smallint NOT NULL,
	"value" bigint NOT NULL,
	PRIMARY KEY ("name", "shard")
);
--> statement-breakpoint
INSERT INTO "table_counts" ("name", "shard", "value") VALUES
	('posts', 0, (SELECT count(*) FROM "posts")),
	('posts.published', 0, (SELECT count(*) FROM "posts" WHERE "published"));
--> statement-breakpoint
CREATE FUNCTION "posts_counts_after_write"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	added bigint := 0;
	added_published bigint := 0;
	removed bigint := 0;
	removed_published bigint := 0;
BEGIN
	IF TG_OP IN ('INSERT', 'UPDATE') THEN
		SELECT count(*), count(*) FILTER (WHERE "published") INTO added, added_published FROM new_rows;
	END IF;
	IF TG_OP IN ('DELETE', 'UPDATE') THEN
		SELECT count(*), count(*) FILTER (WHERE "published") INTO removed, removed_published FROM old_rows;
	END IF;
	-- Both rows of the shard, always in this order: two transactions that share a shard never each hold one.
	IF added <> removed OR added_published <> removed_published THEN
		INSERT INTO "table_counts" AS kept ("name", "shard", "value") VALUES
			('posts', pg_backend_pid() % 16, added - removed),
			('posts.published', pg_backend_pid() % 16, added_published - removed_published)
		ON CONFLICT ("name", "shard") DO UPDATE SET "value" = kept."value" + excluded."value";
	END IF;
	RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "posts_counts_after_insert" AFTER INSERT ON "posts" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "posts_counts_after_write"();
--> statement-breakpoint
CREATE TRIGGER "posts_counts_after_update" AFTER UPDATE ON "posts" REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "posts_counts_after_write"();
--> statement-breakpoint
CREATE TRIGGER "posts_counts_after_delete" AFTER DELETE ON "posts" REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION "posts_counts_after_write"();
--> statement-breakpoint
CREATE FUNCTION "posts_counts_after_truncate"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM "table_counts" WHERE "name" IN ('posts', 'posts.published');
	RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "posts_counts_after_truncate" AFTER TRUNCATE ON "posts" FOR EACH STATEMENT EXECUTE FUNCTION "posts_counts_after_truncate"();
