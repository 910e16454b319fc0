-- Counts admin.stats shows, kept by triggers in the writing statement's transaction: on SQLite a count(*) of a
-- large table holds the whole process (better-sqlite3 is synchronous), and here writers are serialized anyway,
-- so one row per count costs no contention. Postgres counts with queries instead (db/index.ts tableCounts).
-- Names: users, users.active, posts, posts.published, tasks.<status>. Not drizzle schema; a migration that
-- rebuilds users, posts or tasks must recreate its table's triggers.
CREATE TABLE `table_counts` (`name` text PRIMARY KEY NOT NULL, `value` integer NOT NULL) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `table_counts` (`name`, `value`) VALUES
  ('users', (SELECT count(*) FROM users)),
  ('users.active', (SELECT count(*) FROM users WHERE is_active)),
  ('posts', (SELECT count(*) FROM posts)),
  ('posts.published', (SELECT count(*) FROM posts WHERE published)),
  ('tasks.queued', (SELECT count(*) FROM tasks WHERE status = 'queued')),
  ('tasks.running', (SELECT count(*) FROM tasks WHERE status = 'running')),
  ('tasks.completed', (SELECT count(*) FROM tasks WHERE status = 'completed')),
  ('tasks.failed', (SELECT count(*) FROM tasks WHERE status = 'failed')),
  ('tasks.cancelled', (SELECT count(*) FROM tasks WHERE status = 'cancelled'));
--> statement-breakpoint
CREATE TRIGGER `users_counts_after_insert` AFTER INSERT ON `users` BEGIN
  UPDATE `table_counts` SET `value` = `value` + 1 WHERE `name` = 'users';
  UPDATE `table_counts` SET `value` = `value` + 1 WHERE `name` = 'users.active' AND new.is_active;
END;
--> statement-breakpoint
CREATE TRIGGER `users_counts_after_delete` AFTER DELETE ON `users` BEGIN
  UPDATE `table_counts` SET `value` = `value` - 1 WHERE `name` = 'users';
  UPDATE `table_counts` SET `value` = `value` - 1 WHERE `name` = 'users.active' AND old.is_active;
END;
--> statement-breakpoint
CREATE TRIGGER `users_counts_after_update` AFTER UPDATE OF `is_active` ON `users` WHEN old.is_active IS NOT new.is_active BEGIN
  UPDATE `table_counts` SET `value` = `value` + (CASE WHEN new.is_active THEN 1 ELSE -1 END) WHERE `name` = 'users.active';
END;
--> statement-breakpoint
CREATE TRIGGER `posts_counts_after_insert` AFTER INSERT ON `posts` BEGIN
  UPDATE `table_counts` SET `value` = `value` + 1 WHERE `name` = 'posts';
  UPDATE `table_counts` SET `value` = `value` + 1 WHERE `name` = 'posts.published' AND new.published;
END;
--> statement-breakpoint
CREATE TRIGGER `posts_counts_after_delete` AFTER DELETE ON `posts` BEGIN
  UPDATE `table_counts` SET `value` = `value` - 1 WHERE `name` = 'posts';
  UPDATE `table_counts` SET `value` = `value` - 1 WHERE `name` = 'posts.published' AND old.published;
END;
--> statement-breakpoint
CREATE TRIGGER `posts_counts_after_update` AFTER UPDATE OF `published` ON `posts` WHEN old.published IS NOT new.published BEGIN
  UPDATE `table_counts` SET `value` = `value` + (CASE WHEN new.published THEN 1 ELSE -1 END) WHERE `name` = 'posts.published';
END;
--> statement-breakpoint
CREATE TRIGGER `tasks_counts_after_insert` AFTER INSERT ON `tasks` BEGIN
  UPDATE `table_counts` SET `value` = `value` + 1 WHERE `name` = 'tasks.' || new.status;
END;
--> statement-breakpoint
CREATE TRIGGER `tasks_counts_after_delete` AFTER DELETE ON `tasks` BEGIN
  UPDATE `table_counts` SET `value` = `value` - 1 WHERE `name` = 'tasks.' || old.status;
END;
--> statement-breakpoint
CREATE TRIGGER `tasks_counts_after_update` AFTER UPDATE OF `status` ON `tasks` WHEN old.status IS NOT new.status BEGIN
  UPDATE `table_counts` SET `value` = `value` - 1 WHERE `name` = 'tasks.' || old.status;
  UPDATE `table_counts` SET `value` = `value` + 1 WHERE `name` = 'tasks.' || new.status;
END;
