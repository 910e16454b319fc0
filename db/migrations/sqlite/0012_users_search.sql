-- users.list `q` (a substring of the username, e-mail or full name) served by an FTS5 trigram index, as posts' is
-- (posts_fts, migrations 0008 and 0011): any substring of three or more characters, case folded in every script
-- (case_sensitive 0; db/fts5-fold.ts says which text it cannot be asked with), accents kept. The username goes in
-- as written: the search compares username keys (A–Z folded), which the index's folding covers. The name goes in
-- with İ (char(304)) written as JavaScript lower-cases it, i and U+0307 (char(105, 775)), which FTS5 does not:
-- the search's test lower-cases names in JavaScript, so `ayi` finds `Ayİ` there and must here too. Contentless, as
-- posts_fts: deleting a row needs no copy of what it held (contentless_delete). Triggers keep it in step inside the
-- writing statement's transaction (cascaded deletes too). A migration that rebuilds the users table drops these
-- triggers and renumbers rowids: it must recreate the triggers and fill users_fts again, as below.
CREATE VIRTUAL TABLE `users_fts` USING fts5(username, email, full_name, content='', contentless_delete=1, tokenize='trigram case_sensitive 0 remove_diacritics 0');
--> statement-breakpoint
INSERT INTO `users_fts`(rowid, username, email, full_name) SELECT rowid, username, email, replace(full_name, char(304), char(105, 775)) FROM `users`;
--> statement-breakpoint
CREATE TRIGGER `users_fts_after_insert` AFTER INSERT ON `users` BEGIN
  INSERT INTO `users_fts`(rowid, username, email, full_name) VALUES (new.rowid, new.username, new.email, replace(new.full_name, char(304), char(105, 775)));
END;
--> statement-breakpoint
CREATE TRIGGER `users_fts_after_delete` AFTER DELETE ON `users` BEGIN
  DELETE FROM `users_fts` WHERE rowid = old.rowid;
END;
--> statement-breakpoint
CREATE TRIGGER `users_fts_after_update` AFTER UPDATE OF username, email, full_name ON `users` BEGIN
  DELETE FROM `users_fts` WHERE rowid = old.rowid;
  INSERT INTO `users_fts`(rowid, username, email, full_name) VALUES (new.rowid, new.username, new.email, replace(new.full_name, char(304), char(105, 775)));
END;
