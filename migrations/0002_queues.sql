CREATE TABLE `queues` (
	`name` text PRIMARY KEY NOT NULL,
	`projects` text,
	`description` text DEFAULT '' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `tokens` ADD `queue` text DEFAULT 'default' NOT NULL;--> statement-breakpoint
-- `default` always exists and allows every project (issue 14.5: existing agents, tokens and queued jobs are in it).
INSERT OR IGNORE INTO `queues` (`name`, `projects`, `description`, `created_at`, `updated_at`) VALUES ('default', NULL, 'Every project''s jobs unless a pipeline names another queue.', CAST(strftime('%s', 'now') AS INTEGER) * 1000, CAST(strftime('%s', 'now') AS INTEGER) * 1000);
