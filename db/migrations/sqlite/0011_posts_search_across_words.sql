-- posts_fts holds `search` without its spaces (as Postgres' index does since its migration 0011; see
-- db/schema/pg-search-key.ts), so that trigrams also join the words of a text: `kax` and `axy` of `quokka xylophone`.
-- With the spaces kept, a search's word boundary (`ka xy`) was a phrase of trigrams common in any text (`ka `, `a x`,
-- ` xy`), whose lists FTS5 reads whole: 40,884, 6,403 and 39,022 posts at 1,000,000 posts, 1.3–2.3 ms for 22
-- matches, ten times its cost at 100,000. `kaxy` without them: 0.08 ms, the same 22 posts. Removing a character from
-- both sides keeps every "contains", so the index only narrows and the condition on `search` decides (db/index.ts).
-- Contentless: no column of posts holds the key, and an external content table needs one to rebuild from. Deleting
-- a row needs no copy of what it held (contentless_delete). `search` is lower(title SOH body): a text cannot span
-- title and body. A migration that rebuilds the posts table drops these triggers and renumbers rowids: it must
-- recreate the triggers and fill posts_fts again, as below.
DROP TRIGGER `posts_fts_after_insert`;
--> statement-breakpoint
DROP TRIGGER `posts_fts_after_delete`;
--> statement-breakpoint
DROP TRIGGER `posts_fts_after_update`;
--> statement-breakpoint
DROP TABLE `posts_fts`;
--> statement-breakpoint
CREATE VIRTUAL TABLE `posts_fts` USING fts5(key, content='', contentless_delete=1, tokenize='trigram case_sensitive 0 remove_diacritics 0');
--> statement-breakpoint
INSERT INTO `posts_fts`(rowid, key) SELECT rowid, replace(search, ' ', '') FROM `posts`;
--> statement-breakpoint
CREATE TRIGGER `posts_fts_after_insert` AFTER INSERT ON `posts` BEGIN
  INSERT INTO `posts_fts`(rowid, key) VALUES (new.rowid, replace(new.search, ' ', ''));
END;
--> statement-breakpoint
CREATE TRIGGER `posts_fts_after_delete` AFTER DELETE ON `posts` BEGIN
  DELETE FROM `posts_fts` WHERE rowid = old.rowid;
END;
--> statement-breakpoint
CREATE TRIGGER `posts_fts_after_update` AFTER UPDATE OF title, body ON `posts` BEGIN
  DELETE FROM `posts_fts` WHERE rowid = old.rowid;
  INSERT INTO `posts_fts`(rowid, key) VALUES (new.rowid, replace(new.search, ' ', ''));
END;
