/**
 * D1 history: the drizzle schema from which drizzle-kit generates `migrations/`.
 * D1 is a projection for listing and search; a live run is read from its RunObject.
 * Times are integers, milliseconds since the epoch. JSON columns hold arrays/objects as text.
 */
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { Retention } from "../../domain/retention.ts";

const json = <T>(name: string) => text(name, { mode: "json" }).$type<T>();

export const projects = sqliteTable("projects", {
  id: text("id").primaryKey(),
  slug: text("slug").notNull().unique(),
  name: text("name").notNull(),
  repository: text("repository"),
  /** AES-GCM encrypted (see worker/crypto), never returned by the API. */
  webhookSecret: text("webhook_secret").notNull(),
  runCounter: integer("run_counter").notNull().default(0),
  createdAt: integer("created_at").notNull(),
  /** Where runs report commit statuses, e.g. `{github: "owner/name"}` (docs/triggers.md); null: nowhere. */
  statuses: text("statuses", { mode: "json" }).$type<{ github: string } | null>(),
  /** The last commit status GitHub refused (a 4xx, not retried), for the project page; null once one is accepted. */
  statusesError: text("statuses_error", { mode: "json" }).$type<{ at: number; runId: string; runNumber: number; httpStatus: number | null; message: string } | null>(),
  /** Days to keep runs, artifacts, logs and caches (domain/retention.ts); null = keep for ever. */
  retention: json<Retention | null>("retention"),
});

export const pipelines = sqliteTable(
  "pipelines",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull().references(() => projects.id),
    name: text("name").notNull(),
    currentVersionId: text("current_version_id").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [uniqueIndex("pipelines_project_name").on(t.projectId, t.name)],
);

export const pipelineVersions = sqliteTable(
  "pipeline_versions",
  {
    id: text("id").primaryKey(),
    pipelineId: text("pipeline_id").notNull().references(() => pipelines.id),
    version: integer("version").notNull(),
    /** SHA-256 of the file's bytes. */
    hash: text("hash").notNull(),
    content: text("content").notNull(),
    /** The normalised Pipeline (domain/pipeline/types.ts) as JSON. */
    definition: text("definition").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    uniqueIndex("pipeline_versions_hash").on(t.pipelineId, t.hash),
    uniqueIndex("pipeline_versions_number").on(t.pipelineId, t.version),
  ],
);

export const runs = sqliteTable(
  "runs",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    project: text("project").notNull(),
    pipelineId: text("pipeline_id").notNull(),
    pipeline: text("pipeline").notNull(),
    pipelineVersionId: text("pipeline_version_id").notNull(),
    number: integer("number").notNull(),
    branch: text("branch"),
    commit: text("commit"),
    trigger: text("trigger").notNull(),
    params: json<Record<string, string>>("params").notNull(),
    status: text("status").notNull(),
    attempt: integer("attempt").notNull(),
    createdAt: integer("created_at").notNull(),
    startedAt: integer("started_at"),
    endedAt: integer("ended_at"),
    updatedAt: integer("updated_at").notNull(),
    /** Set when retention removed the run's logs (the log route then answers 410 `expired`). */
    logsExpiredAt: integer("logs_expired_at"),
  },
  (t) => [
    uniqueIndex("runs_project_number").on(t.projectId, t.number),
    index("runs_project_id").on(t.project, t.id),
    index("runs_pipeline_id").on(t.pipelineId, t.id),
    index("runs_status_id").on(t.status, t.id),
    index("runs_branch_id").on(t.branch, t.id),
    index("runs_project_created").on(t.projectId, t.createdAt),
  ],
);

export const runAttempts = sqliteTable(
  "run_attempts",
  {
    id: text("id").primaryKey(),
    runId: text("run_id").notNull(),
    number: integer("number").notNull(),
    status: text("status").notNull(),
    createdAt: integer("created_at").notNull(),
    startedAt: integer("started_at"),
    endedAt: integer("ended_at"),
  },
  (t) => [uniqueIndex("run_attempts_run_number").on(t.runId, t.number)],
);

export const jobs = sqliteTable(
  "jobs",
  {
    id: text("id").primaryKey(),
    runId: text("run_id").notNull(),
    runAttemptId: text("run_attempt_id").notNull(),
    key: text("key").notNull(),
    status: text("status").notNull(),
    needs: json<string[]>("needs").notNull(),
    labels: json<string[]>("labels").notNull(),
    outputs: json<Record<string, string>>("outputs").notNull(),
    agentId: text("agent_id"),
    startedAt: integer("started_at"),
    endedAt: integer("ended_at"),
  },
  (t) => [index("jobs_run").on(t.runId), index("jobs_attempt").on(t.runAttemptId)],
);

export const jobAttempts = sqliteTable(
  "job_attempts",
  {
    id: text("id").primaryKey(),
    jobId: text("job_id").notNull(),
    runId: text("run_id").notNull(),
    number: integer("number").notNull(),
    status: text("status").notNull(),
    agentId: text("agent_id"),
    reason: text("reason"),
    createdAt: integer("created_at").notNull(),
    startedAt: integer("started_at"),
    endedAt: integer("ended_at"),
  },
  (t) => [index("job_attempts_job").on(t.jobId), index("job_attempts_run").on(t.runId)],
);

export const stepRuns = sqliteTable(
  "step_runs",
  {
    /** `<jobAttemptId>/<stepId>` */
    id: text("id").primaryKey(),
    jobAttemptId: text("job_attempt_id").notNull(),
    runId: text("run_id").notNull(),
    stepId: text("step_id").notNull(),
    status: text("status").notNull(),
    exitCode: integer("exit_code"),
    outputs: json<Record<string, string>>("outputs").notNull(),
    metrics: json<unknown[]>("metrics").notNull(),
    attempts: integer("attempts").notNull(),
    startedAt: integer("started_at"),
    endedAt: integer("ended_at"),
  },
  (t) => [index("step_runs_job_attempt").on(t.jobAttemptId)],
);

export const artifacts = sqliteTable(
  "artifacts",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    project: text("project").notNull(),
    runId: text("run_id").notNull(),
    runNumber: integer("run_number").notNull(),
    pipeline: text("pipeline").notNull(),
    attempt: integer("attempt").notNull(),
    job: text("job").notNull(),
    jobAttemptId: text("job_attempt_id").notNull(),
    name: text("name").notNull(),
    size: integer("size").notNull(),
    sha256: text("sha256").notNull(),
    contentType: text("content_type").notNull(),
    r2Key: text("r2_key").notNull(),
    createdAt: integer("created_at").notNull(),
    /** Set when retention removed the bytes: the row stays so lists can say "expired". */
    expiredAt: integer("expired_at"),
  },
  (t) => [
    index("artifacts_run").on(t.runId, t.id),
    index("artifacts_created").on(t.projectId, t.createdAt),
    index("artifacts_project").on(t.project, t.id),
    index("artifacts_name").on(t.name),
  ],
);

export const agents = sqliteTable("agents", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  queue: text("queue").notNull(),
  labels: json<string[]>("labels").notNull(),
  version: text("version").notNull(),
  hostname: text("hostname"),
  concurrency: integer("concurrency").notNull(),
  registrationTokenId: text("registration_token_id"),
  createdAt: integer("created_at").notNull(),
  lastSeenAt: integer("last_seen_at"),
  revokedAt: integer("revoked_at"),
});

/**
 * Queues (issue 14, docs/architecture.md "Queues"): one DispatcherObject each, named by `name`.
 * `projects` lists the project slugs allowed to send jobs to it; null = every project. The
 * migration seeds `default` (every project), which cannot be deleted nor narrowed.
 */
export const queues = sqliteTable("queues", {
  name: text("name").primaryKey(),
  projects: json<string[] | null>("projects"),
  description: text("description").notNull().default(""),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/** API tokens and agent registration tokens; only the SHA-256 of a token is kept. */
export const tokens = sqliteTable(
  "tokens",
  {
    id: text("id").primaryKey(),
    kind: text("kind", { enum: ["api", "agent_registration"] }).notNull(),
    name: text("name").notNull(),
    tokenHash: text("token_hash").notNull(),
    scopes: json<string[]>("scopes").notNull(),
    /** Project slugs this token is limited to; null = every project. */
    projects: json<string[] | null>("projects"),
    /** The queue a registration token registers agents into (issue 14); `default` for API tokens. */
    queue: text("queue").notNull().default("default"),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at"),
    lastUsedAt: integer("last_used_at"),
    revokedAt: integer("revoked_at"),
    /** The email of the person who created it (issue 23); null for tokens made with a token. */
    owner: text("owner"),
  },
  (t) => [uniqueIndex("tokens_hash").on(t.tokenHash)],
);

// ── Triggers, secrets (issue #6; docs/triggers.md, docs/security.md) ─────────────────────────

/** Project secrets: AES-GCM encrypted (worker/services/crypto.ts), never returned by the API. */
export const projectSecrets = sqliteTable(
  "project_secrets",
  {
    projectId: text("project_id").notNull(),
    name: text("name").notNull(),
    value: text("value").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.projectId, t.name] })],
);

/** A run a webhook delivery starts: its id is chosen before it is started (see worker/services/webhook-deliveries.ts). */
export type PlannedRun = {
  pipeline: string;
  runId: string;
  params?: Record<string, string>;
  /** False for a pull request from a fork. */
  withSecrets?: boolean;
  /** Set once started. */
  number?: number;
  /** Set when starting it was refused. */
  error?: { status: number; code: string; message: string };
};

/** Every webhook delivery, refused ones included. */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    source: text("source", { enum: ["github", "generic"] }).notNull(),
    /** As sent (`X-GitHub-Delivery`, `X-Yardmaster-Delivery`); null when none was sent. */
    deliveryId: text("delivery_id"),
    /**
     * The delivery id of a delivery whose signature checked out: unique per project, so the
     * same delivery is acted on once. Null for refused deliveries and replays (NULLs never clash).
     */
    dedupeKey: text("dedupe_key"),
    event: text("event"),
    action: text("action"),
    branch: text("branch"),
    commit: text("commit"),
    /** accepted (runs being started) | started | ignored | failed | rejected | duplicate */
    status: text("status").notNull(),
    reason: text("reason"),
    /** The runs the delivery starts, planned (with their ids) before any is started. */
    runs: json<PlannedRun[]>("runs").notNull(),
    receivedAt: integer("received_at").notNull(),
    completedAt: integer("completed_at"),
  },
  (t) => [
    uniqueIndex("webhook_deliveries_dedupe").on(t.projectId, t.dedupeKey),
    index("webhook_deliveries_project").on(t.projectId, t.id),
    index("webhook_deliveries_received").on(t.receivedAt),
  ],
);

/** The schedules of pipelines' current versions: one row per (pipeline, cron). */
export const schedules = sqliteTable(
  "schedules",
  {
    pipelineId: text("pipeline_id").notNull(),
    cron: text("cron").notNull(),
    projectId: text("project_id").notNull(),
    /** The first slot not fired yet (ms); null when the cron names no further time. */
    nextAt: integer("next_at"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.pipelineId, t.cron] }), index("schedules_next_at").on(t.nextAt)],
);

/**
 * Fired slots: the row is inserted (unique per pipeline, cron and slot) with the run's id
 * before the run is started, so a slot starts one run however many ticks see it.
 */
export const scheduleSlots = sqliteTable(
  "schedule_slots",
  {
    pipelineId: text("pipeline_id").notNull(),
    cron: text("cron").notNull(),
    slot: integer("slot").notNull(),
    runId: text("run_id").notNull(),
    createdAt: integer("created_at").notNull(),
    /** When the run was created; null while it is still to be started (or retried). */
    startedAt: integer("started_at"),
    attempts: integer("attempts").notNull().default(0),
    /** The last refusal or failure of starting the run. */
    error: text("error"),
    /** Set when starting the run was refused for good (e.g. a required param has no default). */
    failedAt: integer("failed_at"),
  },
  (t) => [primaryKey({ columns: [t.pipelineId, t.cron, t.slot] }), index("schedule_slots_pending").on(t.startedAt, t.failedAt)],
);

/** People, known by the email of their Cloudflare Access sign-in; created on first sign-in with no roles. */
export const users = sqliteTable("users", {
  email: text("email").primaryKey(),
  createdAt: integer("created_at").notNull(),
});

/** The sentinel `project` of a role over every project (a slug is never `*`). */
export const EVERY_PROJECT = "*";

/** A person's role on a project, or on every project (`*`): one role per person and project. */
export const userRoles = sqliteTable(
  "user_roles",
  {
    email: text("email").notNull(),
    project: text("project").notNull(),
    role: text("role", { enum: ["read", "run", "admin"] }).notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.email, t.project] })],
);

/**
 * Who did what (docs/security.md "The audit log"). Written in the same `db.batch` as the change
 * it records; ids are uuidv7, so their order is the order of events and the listing's cursor.
 */
export const auditEvents = sqliteTable(
  "audit_events",
  {
    id: text("id").primaryKey(),
    at: integer("at").notNull(),
    actorKind: text("actor_kind", { enum: ["user", "token", "webhook", "schedule", "agent", "system"] }).notNull(),
    actorId: text("actor_id").notNull(),
    actorName: text("actor_name").notNull(),
    action: text("action").notNull(),
    project: text("project"),
    target: text("target"),
    ip: text("ip"),
  },
  (t) => [index("audit_events_project").on(t.project, t.id), index("audit_events_actor").on(t.actorId, t.id), index("audit_events_at").on(t.at), index("audit_events_target").on(t.target, t.id)],
);

export * from "./lineage-schema.ts";

/**
 * Job caches (issue 18; docs/architecture.md "Caches"): one row per (project, queue, key), the
 * archive in R2 at `r2Key`. `lastUsedAt` orders the least recently used for eviction.
 */
export const cacheEntries = sqliteTable(
  "cache_entries",
  {
    id: text("id").primaryKey(),
    projectId: text("project_id").notNull(),
    queue: text("queue").notNull(),
    key: text("key").notNull(),
    size: integer("size").notNull(),
    sha256: text("sha256").notNull(),
    r2Key: text("r2_key").notNull(),
    createdAt: integer("created_at").notNull(),
    lastUsedAt: integer("last_used_at").notNull(),
  },
  (t) => [uniqueIndex("cache_entries_key").on(t.projectId, t.queue, t.key), index("cache_entries_lru").on(t.projectId, t.lastUsedAt)],
);
