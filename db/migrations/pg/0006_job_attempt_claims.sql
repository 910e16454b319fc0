DROP INDEX "password_reset_tokens_job_id_unique";--> statement-breakpoint
ALTER TABLE "password_reset_tokens" ADD COLUMN "attempt" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "attempt" integer;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "welcome_email_claim" text;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "welcome_email_claimed_at" timestamp with time zone;--> statement-breakpoint
CREATE UNIQUE INDEX "password_reset_tokens_job_attempt_unique" ON "password_reset_tokens" USING btree ("job_id","attempt");