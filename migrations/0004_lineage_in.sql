CREATE TABLE `dataset_triggers` (
	`pipeline_id` text NOT NULL,
	`position` integer NOT NULL,
	`project_id` text NOT NULL,
	`namespace` text NOT NULL,
	`name_glob` text NOT NULL,
	PRIMARY KEY(`pipeline_id`, `position`)
);
--> statement-breakpoint
CREATE INDEX `dataset_triggers_namespace` ON `dataset_triggers` (`namespace`);--> statement-breakpoint
CREATE TABLE `datasets` (
	`namespace` text NOT NULL,
	`name` text NOT NULL,
	`producer_namespace` text,
	`producer_job` text,
	`producer_run_id` text,
	`producer_event_type` text,
	`producer_event_time` text,
	`producer_seq` integer,
	`first_seen_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`namespace`, `name`)
);
--> statement-breakpoint
CREATE INDEX `datasets_name` ON `datasets` (`name`);--> statement-breakpoint
CREATE INDEX `datasets_updated` ON `datasets` (`updated_at`);--> statement-breakpoint
CREATE TABLE `lineage_events` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`kind` text NOT NULL,
	`source` text NOT NULL,
	`event_type` text,
	`event_time` text NOT NULL,
	`namespace` text NOT NULL,
	`name` text NOT NULL,
	`run_id` text,
	`producer` text NOT NULL,
	`body` text NOT NULL,
	`received_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `lineage_events_run` ON `lineage_events` (`run_id`);--> statement-breakpoint
CREATE TABLE `lineage_triggers` (
	`event_key` text NOT NULL,
	`pipeline_id` text NOT NULL,
	`project_id` text NOT NULL,
	`project` text NOT NULL,
	`pipeline` text NOT NULL,
	`upstream_namespace` text NOT NULL,
	`upstream_job` text NOT NULL,
	`upstream_run_id` text NOT NULL,
	`upstream_ym_run_id` text,
	`datasets` text NOT NULL,
	`chain` text DEFAULT '[]' NOT NULL,
	`run_id` text,
	`outcome` text NOT NULL,
	`message` text,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`event_key`, `pipeline_id`)
);
--> statement-breakpoint
CREATE INDEX `lineage_triggers_run` ON `lineage_triggers` (`run_id`);--> statement-breakpoint
CREATE INDEX `lineage_triggers_upstream_ym` ON `lineage_triggers` (`upstream_ym_run_id`);--> statement-breakpoint
CREATE INDEX `lineage_triggers_created` ON `lineage_triggers` (`created_at`);