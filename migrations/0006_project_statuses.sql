ALTER TABLE `projects` ADD `statuses` text;--> statement-breakpoint
ALTER TABLE `projects` ADD `statuses_error` text;