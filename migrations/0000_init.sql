CREATE TABLE `agents` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`queue` text NOT NULL,
	`labels` text NOT NULL,
	`version` text NOT NULL,
	`hostname` text,
	`concurrency` integer NOT NULL,
	`registration_token_id` text,
	`created_at` integer NOT NULL,
	`last_seen_at` integer,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE TABLE `artifacts` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`project` text NOT NULL,
	`run_id` text NOT NULL,
	`run_number` integer NOT NULL,
	`pipeline` text NOT NULL,
	`attempt` integer NOT NULL,
	`job` text NOT NULL,
	`job_attempt_id` text NOT NULL,
	`name` text NOT NULL,
	`size` integer NOT NULL,
	`sha256` text NOT NULL,
	`content_type` text NOT NULL,
	`r2_key` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `artifacts_run` ON `artifacts` (`run_id`,`id`);--> statement-breakpoint
CREATE INDEX `artifacts_project` ON `artifacts` (`project`,`id`);--> statement-breakpoint
CREATE INDEX `artifacts_name` ON `artifacts` (`name`);--> statement-breakpoint
CREATE TABLE `job_attempts` (
	`id` text PRIMARY KEY NOT NULL,
	`job_id` text NOT NULL,
	`run_id` text NOT NULL,
	`number` integer NOT NULL,
	`status` text NOT NULL,
	`agent_id` text,
	`reason` text,
	`created_at` integer NOT NULL,
	`started_at` integer,
	`ended_at` integer
);
--> statement-breakpoint
CREATE INDEX `job_attempts_job` ON `job_attempts` (`job_id`);--> statement-breakpoint
CREATE INDEX `job_attempts_run` ON `job_attempts` (`run_id`);--> statement-breakpoint
CREATE TABLE `jobs` (
	`id` text PRIMARY KEY NOT NULL,
	`run_id` text NOT NULL,
	`run_attempt_id` text NOT NULL,
	`key` text NOT NULL,
	`status` text NOT NULL,
	`needs` text NOT NULL,
	`labels` text NOT NULL,
	`outputs` text NOT NULL,
	`agent_id` text,
	`started_at` integer,
	`ended_at` integer
);
--> statement-breakpoint
CREATE INDEX `jobs_run` ON `jobs` (`run_id`);--> statement-breakpoint
CREATE INDEX `jobs_attempt` ON `jobs` (`run_attempt_id`);--> statement-breakpoint
CREATE TABLE `pipeline_versions` (
	`id` text PRIMARY KEY NOT NULL,
	`pipeline_id` text NOT NULL,
	`version` integer NOT NULL,
	`hash` text NOT NULL,
	`content` text NOT NULL,
	`definition` text NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`pipeline_id`) REFERENCES `pipelines`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `pipeline_versions_hash` ON `pipeline_versions` (`pipeline_id`,`hash`);--> statement-breakpoint
CREATE UNIQUE INDEX `pipeline_versions_number` ON `pipeline_versions` (`pipeline_id`,`version`);--> statement-breakpoint
CREATE TABLE `pipelines` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`name` text NOT NULL,
	`current_version_id` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `pipelines_project_name` ON `pipelines` (`project_id`,`name`);--> statement-breakpoint
CREATE TABLE `projects` (
	`id` text PRIMARY KEY NOT NULL,
	`slug` text NOT NULL,
	`name` text NOT NULL,
	`repository` text,
	`webhook_secret` text NOT NULL,
	`run_counter` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `projects_slug_unique` ON `projects` (`slug`);--> statement-breakpoint
CREATE TABLE `run_attempts` (
	`id` text PRIMARY KEY NOT NULL,
	`run_id` text NOT NULL,
	`number` integer NOT NULL,
	`status` text NOT NULL,
	`created_at` integer NOT NULL,
	`started_at` integer,
	`ended_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `run_attempts_run_number` ON `run_attempts` (`run_id`,`number`);--> statement-breakpoint
CREATE TABLE `runs` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`project` text NOT NULL,
	`pipeline_id` text NOT NULL,
	`pipeline` text NOT NULL,
	`pipeline_version_id` text NOT NULL,
	`number` integer NOT NULL,
	`branch` text,
	`commit` text,
	`trigger` text NOT NULL,
	`params` text NOT NULL,
	`status` text NOT NULL,
	`attempt` integer NOT NULL,
	`created_at` integer NOT NULL,
	`started_at` integer,
	`ended_at` integer,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `runs_project_number` ON `runs` (`project_id`,`number`);--> statement-breakpoint
CREATE INDEX `runs_project_id` ON `runs` (`project`,`id`);--> statement-breakpoint
CREATE INDEX `runs_pipeline_id` ON `runs` (`pipeline_id`,`id`);--> statement-breakpoint
CREATE INDEX `runs_status_id` ON `runs` (`status`,`id`);--> statement-breakpoint
CREATE INDEX `runs_branch_id` ON `runs` (`branch`,`id`);--> statement-breakpoint
CREATE TABLE `step_runs` (
	`id` text PRIMARY KEY NOT NULL,
	`job_attempt_id` text NOT NULL,
	`run_id` text NOT NULL,
	`step_id` text NOT NULL,
	`status` text NOT NULL,
	`exit_code` integer,
	`outputs` text NOT NULL,
	`metrics` text NOT NULL,
	`attempts` integer NOT NULL,
	`started_at` integer,
	`ended_at` integer
);
--> statement-breakpoint
CREATE INDEX `step_runs_job_attempt` ON `step_runs` (`job_attempt_id`);--> statement-breakpoint
CREATE TABLE `tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`name` text NOT NULL,
	`token_hash` text NOT NULL,
	`scopes` text NOT NULL,
	`projects` text,
	`created_at` integer NOT NULL,
	`expires_at` integer,
	`last_used_at` integer,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_hash` ON `tokens` (`token_hash`);