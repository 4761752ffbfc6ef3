CREATE TABLE `cache_entries` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`queue` text NOT NULL,
	`key` text NOT NULL,
	`size` integer NOT NULL,
	`sha256` text NOT NULL,
	`r2_key` text NOT NULL,
	`created_at` integer NOT NULL,
	`last_used_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `cache_entries_key` ON `cache_entries` (`project_id`,`queue`,`key`);--> statement-breakpoint
CREATE INDEX `cache_entries_lru` ON `cache_entries` (`project_id`,`last_used_at`);--> statement-breakpoint
ALTER TABLE `artifacts` ADD `expired_at` integer;--> statement-breakpoint
CREATE INDEX `artifacts_created` ON `artifacts` (`project_id`,`created_at`);--> statement-breakpoint
ALTER TABLE `projects` ADD `retention` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `logs_expired_at` integer;--> statement-breakpoint
CREATE INDEX `runs_project_created` ON `runs` (`project_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `webhook_deliveries_received` ON `webhook_deliveries` (`received_at`);