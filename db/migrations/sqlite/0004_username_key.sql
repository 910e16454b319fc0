DROP INDEX `users_username_unique`;--> statement-breakpoint
ALTER TABLE `users` ADD `username_key` text GENERATED ALWAYS AS (lower(username)) VIRTUAL;--> statement-breakpoint
CREATE UNIQUE INDEX `users_username_unique` ON `users` (`username_key`);