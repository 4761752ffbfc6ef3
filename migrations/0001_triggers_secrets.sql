CREATE TABLE `project_secrets` (
	`project_id` text NOT NULL,
	`name` text NOT NULL,
	`value` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`project_id`, `name`)
);
--> statement-breakpoint
CREATE TABLE `schedule_slots` (
	`pipeline_id` text NOT NULL,
	`cron` text NOT NULL,
	`slot` integer NOT NULL,
	`run_id` text NOT NULL,
	`created_at` integer NOT NULL,
	`started_at` integer,
	`attempts` integer DEFAULT 0 NOT NULL,
	`error` text,
	`failed_at` integer,
	PRIMARY KEY(`pipeline_id`, `cron`, `slot`)
);
--> statement-breakpoint
CREATE INDEX `schedule_slots_pending` ON `schedule_slots` (`started_at`,`failed_at`);--> statement-breakpoint
CREATE TABLE `schedules` (
	`pipeline_id` text NOT NULL,
	`cron` text NOT NULL,
	`project_id` text NOT NULL,
	`next_at` integer,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`pipeline_id`, `cron`)
);
--> statement-breakpoint
CREATE INDEX `schedules_next_at` ON `schedules` (`next_at`);--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`source` text NOT NULL,
	`delivery_id` text,
	`dedupe_key` text,
	`event` text,
	`action` text,
	`branch` text,
	`commit` text,
	`status` text NOT NULL,
	`reason` text,
	`runs` text NOT NULL,
	`received_at` integer NOT NULL,
	`completed_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `webhook_deliveries_dedupe` ON `webhook_deliveries` (`project_id`,`dedupe_key`);--> statement-breakpoint
CREATE INDEX `webhook_deliveries_project` ON `webhook_deliveries` (`project_id`,`id`);