-- `q` search over posts: an FTS5 index of title and body with the trigram tokenizer, which finds any substring
-- of three or more characters, folding case in every script (case_sensitive 0) and keeping accents
-- (remove_diacritics 0), as Postgres' ILIKE does. External content: it stores the index only, the text stays in
-- posts. Triggers keep it in step with posts inside the writing statement's transaction (cascaded deletes too).
-- A migration that rebuilds the posts table drops these triggers and renumbers rowids: it must recreate the
-- triggers and run the 'rebuild' below again.
CREATE VIRTUAL TABLE `posts_fts` USING fts5(title, body, content='posts', content_rowid='rowid', tokenize='trigram case_sensitive 0 remove_diacritics 0');
--> statement-breakpoint
INSERT INTO `posts_fts`(`posts_fts`) VALUES ('rebuild');
--> statement-breakpoint
CREATE TRIGGER `posts_fts_after_insert` AFTER INSERT ON `posts` BEGIN
  INSERT INTO `posts_fts`(rowid, title, body) VALUES (new.rowid, new.title, new.body);
END;
--> statement-breakpoint
CREATE TRIGGER `posts_fts_after_delete` AFTER DELETE ON `posts` BEGIN
  INSERT INTO `posts_fts`(`posts_fts`, rowid, title, body) VALUES ('delete', old.rowid, old.title, old.body);
END;
--> statement-breakpoint
CREATE TRIGGER `posts_fts_after_update` AFTER UPDATE OF title, body ON `posts` BEGIN
  INSERT INTO `posts_fts`(`posts_fts`, rowid, title, body) VALUES ('delete', old.rowid, old.title, old.body);
  INSERT INTO `posts_fts`(rowid, title, body) VALUES (new.rowid, new.title, new.body);
END;
