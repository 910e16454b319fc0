DROP INDEX `password_reset_tokens_job_id_unique`;--> statement-breakpoint
ALTER TABLE `password_reset_tokens` ADD `attempt` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `password_reset_tokens_job_attempt_unique` ON `password_reset_tokens` (`job_id`,`attempt`);--> statement-breakpoint
ALTER TABLE `tasks` ADD `attempt` integer;--> statement-breakpoint
ALTER TABLE `users` ADD `welcome_email_claim` text;--> statement-breakpoint
ALTER TABLE `users` ADD `welcome_email_claimed_at` integer;