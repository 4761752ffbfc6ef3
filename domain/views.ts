/**
 * The REST API's response shapes (DESIGN.md §5) as zod schemas: the worker documents its routes
 * with them (GET /api/openapi.json) and the dashboard and tests read their types from them.
 * Times are ISO-8601 strings; durations are milliseconds.
 */
import { z } from "zod";
import { RunRef } from "./run-ref.ts";
import { STATES } from "./states.ts";
import { StatusesErrorView, StatusesSetting } from "./project-settings.ts";
import { Retention } from "./retention.ts";

const Time = z.string().nullable();
const StateSchema = z.enum(STATES);
export const TriggerSchema = z.enum(["manual", "api", "webhook", "schedule", "lineage"]);

export const TransitionView = z
  .object({ from: StateSchema.nullable(), to: StateSchema, at: z.string(), reason: z.string().nullable() })
  .meta({ id: "Transition" });

export const MetricView = z
  .object({ name: z.string(), kind: z.enum(["counter", "duration"]), value: z.number() })
  .meta({ id: "Metric" });

export const StepAttemptView = z
  .object({
    number: z.number().int(),
    status: StateSchema,
    exitCode: z.number().int().nullable(),
    reason: z.string().nullable(),
    startedAt: Time,
    endedAt: Time,
  })
  .meta({ id: "StepAttempt" });

export const StepView = z
  .object({
    id: z.string(),
    name: z.string(),
    needs: z.array(z.string()),
    status: StateSchema,
    exitCode: z.number().int().nullable(),
    reason: z.string().nullable(),
    outputs: z.record(z.string(), z.string()),
    metrics: z.array(MetricView),
    startedAt: Time,
    endedAt: Time,
    durationMs: z.number().nullable(),
    attempts: z.array(StepAttemptView),
  })
  .meta({ id: "Step" });

export const JobAttemptView = z
  .object({
    id: z.string(),
    number: z.number().int(),
    status: StateSchema,
    agent: z.string().nullable().describe("the agent's name"),
    agentId: z.string().nullable(),
    reason: z.string().nullable(),
    message: z.string().nullable(),
    retry: z.string().nullable().describe("why this failed attempt was, or was not, retried (the job's retry policy)"),
    notBefore: Time.describe("a retry waiting out its backoff is queued at this time"),
    decidedBy: z.string().nullable().describe("an approval job: who approved or rejected it"),
    createdAt: z.string(),
    startedAt: Time,
    endedAt: Time,
    durationMs: z.number().nullable(),
    steps: z.array(StepView),
    history: z.array(TransitionView),
  })
  .meta({ id: "JobAttempt" });

export const JobView = z
  .object({
    id: z.string(),
    key: z.string(),
    status: StateSchema,
    needs: z.array(z.string()),
    waitingOn: z.array(z.string()),
    labels: z.array(z.string()),
    queue: z.string().describe("the queue its attempts wait in"),
    priority: z.number().int(),
    agent: z.string().nullable(),
    outputs: z.record(z.string(), z.string()),
    matrix: z
      .record(z.string(), z.string())
      .nullable()
      .describe("an instance of a matrix job: its combination (the job as written is `matrixJob`)"),
    matrixJob: z.string().nullable().describe("the key of the matrix job as written, for an instance of one"),
    approval: z
      .object({
        prompt: z.string(),
        inputs: z.record(
          z.string(),
          z.object({ type: z.enum(["string", "number", "boolean"]), required: z.boolean(), default: z.string().optional(), description: z.string().optional() }),
        ),
        timeoutMs: z.number().nullable(),
      })
      .nullable()
      .describe("a `type: approval` job: what the approver is asked; it waits with waitingOn [\"approval\"]"),
    reused: z
      .object({ attempt: z.number().int(), jobId: z.string() })
      .nullable()
      .describe("set when a failed-only re-run kept this job's result from an earlier attempt"),
    attempts: z.array(JobAttemptView),
  })
  .meta({ id: "Job" });

export const RunAttemptView = z
  .object({
    id: z.string(),
    number: z.number().int(),
    status: StateSchema,
    failedOnly: z.boolean(),
    rerunJobs: z.array(z.string()).nullable().describe("a re-run of chosen jobs: the jobs named (they and their dependants ran again)"),
    createdAt: z.string(),
    startedAt: Time,
    endedAt: Time,
    durationMs: z.number().nullable(),
    jobs: z.array(JobView),
    history: z.array(TransitionView),
  })
  .meta({ id: "RunAttempt" });

/** A run as listed (from D1): no attempts. */
export const RunSummaryView = RunRef.extend({
  trigger: TriggerSchema,
  params: z.record(z.string(), z.string()),
  status: StateSchema,
  attempt: z.number().int(),
  createdAt: z.string(),
  startedAt: Time,
  endedAt: Time,
  durationMs: z.number().nullable(),
  awaitingApproval: z
    .array(z.string())
    .optional()
    .describe("in GET /api/v1/runs: the run's approval jobs waiting for a person (absent when none)"),
}).meta({ id: "RunSummary" });

/** Who did something (the audit log, docs/security.md). */
export const AuditActor = z
  .object({
    kind: z.enum(["user", "token", "webhook", "schedule", "agent", "system"]),
    id: z.string().describe("an email, a token id, `project/pipeline` (webhooks, schedules), an agent id, or `admin-token`"),
    name: z.string(),
  })
  .meta({ id: "AuditActor" });
export type AuditActor = z.infer<typeof AuditActor>;

export const AuditEventView = z
  .object({
    id: z.string(),
    at: z.string(),
    actor: AuditActor,
    action: z.string().describe("e.g. run.trigger, run.cancel, run.rerun, role.grant, secret.put, token.revoke"),
    project: z.string().nullable(),
    target: z.string().nullable().describe("what was changed: a run id, a secret's name, a person and role, …"),
    ip: z.string().nullable().describe("the caller's address (CF-Connecting-IP)"),
  })
  .meta({ id: "AuditEvent" });
export type AuditEventView = z.infer<typeof AuditEventView>;

export const RunView = RunSummaryView.extend({
  pipelineVersionId: z.string(),
  nominalTime: Time,
  attempts: z.array(RunAttemptView),
  history: z.array(TransitionView),
  triggeredBy: AuditActor.nullable().optional().describe("who triggered the run (GET /api/v1/runs/{run}; null for runs from before the audit log)"),
  actions: z
    .array(z.object({ action: z.string(), actor: AuditActor, at: z.string() }))
    .optional()
    .describe("who triggered, cancelled, re-ran, approved or rejected the run, oldest first (from the audit log, written by the run's object)"),
}).meta({ id: "Run" });

export type TransitionView = z.infer<typeof TransitionView>;
export type StepView = z.infer<typeof StepView>;
export type JobAttemptView = z.infer<typeof JobAttemptView>;
export type JobView = z.infer<typeof JobView>;
export type RunAttemptView = z.infer<typeof RunAttemptView>;
export type RunSummaryView = z.infer<typeof RunSummaryView>;
export type RunView = z.infer<typeof RunView>;

export const ErrorBody = z
  .object({
    error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
  })
  .meta({ id: "Error" });
export type ErrorBody = z.infer<typeof ErrorBody>;

export function listOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), cursor: z.string().nullable() });
}

/** A page of a list (`listOf`): pass `cursor` back to get the next; null on the last page. */
export interface Page<T> {
  items: T[];
  cursor: string | null;
}

/** What a token may do. Scopes nest: `admin` includes `run`, which includes `read`. */
export const SCOPES = ["read", "run", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

/** Who the dashboard is signed in as (GET /api/v1/session). */
export const RoleView = z
  .object({ project: z.string().nullable().describe("a project slug; null = every project"), role: z.enum(SCOPES) })
  .meta({ id: "Role" });
export type RoleView = z.infer<typeof RoleView>;

export const SessionView = z
  .object({
    kind: z.enum(["admin", "token", "user"]),
    name: z.string().describe("the token's name (`admin` for the admin token), or the person's email"),
    email: z.string().nullable().describe("the person signed in through Cloudflare Access; null for a token"),
    scopes: z.array(z.enum(SCOPES)),
    projects: z.array(z.string()).nullable().describe("the projects the caller may see; null = all"),
    roles: z.array(RoleView).describe("what the caller may do where: a person's roles, a token's scopes over its projects (within its owner's roles)"),
    token: z
      .object({ id: z.string(), name: z.string(), owner: z.string().nullable().describe("the person who made it") })
      .nullable()
      .describe("the API token calling, when it is one"),
  })
  .meta({ id: "Session" });
export type SessionView = z.infer<typeof SessionView>;

export const ArtifactView = z
  .object({
    id: z.string(),
    run: z.string().describe("the run's id"),
    runNumber: z.number().int(),
    project: z.string(),
    pipeline: z.string(),
    attempt: z.number().int().describe("the run attempt"),
    job: z.string(),
    jobAttemptId: z.string(),
    name: z.string(),
    size: z.number().int(),
    sha256: z.string(),
    contentType: z.string(),
    createdAt: z.string(),
    expired: z.boolean().optional().describe("true when retention removed the bytes (the download answers 410)"),
  })
  .meta({ id: "Artifact" });
export type ArtifactView = z.infer<typeof ArtifactView>;

/** A job in the queue (GET /api/v1/queue): pending in claim order, or running on an agent. */
export const QueueEntryView = z
  .object({
    jobAttemptId: z.string(),
    queue: z.string().describe("the queue the job waits in"),
    runId: z.string(),
    runNumber: z.number().int(),
    project: z.string(),
    pipeline: z.string(),
    jobKey: z.string(),
    runAttempt: z.number().int(),
    jobAttempt: z.number().int(),
    labels: z.array(z.string()),
    priority: z.number().int(),
    readyAt: z.number(),
    state: z.enum(["queued", "assigned"]),
    position: z.number().int().nullable().describe("1-based place among queued jobs; null once assigned"),
    agent: z.string().nullable(),
    assignedAt: z.string().nullable(),
    waitMs: z.number(),
  })
  .meta({ id: "QueueEntry" });
export type QueueEntryView = z.infer<typeof QueueEntryView>;

export const QueueView = z
  .object({
    name: z.string(),
    projects: z.array(z.string()).nullable().describe("the projects allowed to send jobs to it; null = every project"),
    description: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: "Queue" });
export type QueueView = z.infer<typeof QueueView>;

export const QueueMetrics = z
  .object({
    waiting: z.number().int().describe("jobs queued, not yet claimed"),
    running: z.number().int().describe("jobs claimed by an agent"),
    agents: z.object({ idle: z.number().int(), busy: z.number().int() }).describe("agents heard from recently (lost, stopped and revoked ones are not counted)"),
    oldestWaitSeconds: z.number().int().describe("how long the longest-waiting queued job has waited; 0 when none waits"),
  })
  .meta({ id: "QueueMetrics" });
export type QueueMetrics = z.infer<typeof QueueMetrics>;

export const AgentView = z
  .object({
    id: z.string(),
    name: z.string(),
    queue: z.string(),
    labels: z.array(z.string()),
    version: z.string(),
    hostname: z.string().nullable(),
    state: z.enum(["idle", "busy", "lost", "stopped", "revoked"]),
    jobs: z.array(
      z.object({ jobAttemptId: z.string(), runId: z.string(), runNumber: z.number(), project: z.string(), pipeline: z.string(), job: z.string() }),
    ),
    lastSeenAt: z.string(),
    createdAt: z.string(),
  })
  .meta({ id: "Agent" });
export type AgentView = z.infer<typeof AgentView>;

export const ProjectView = z
  .object({
    id: z.string(),
    slug: z.string(),
    name: z.string(),
    repository: z.string().nullable(),
    createdAt: z.string(),
    statuses: StatusesSetting.nullable(),
    statusesError: StatusesErrorView.nullable(),
    retention: Retention.nullable(),
  })
  .meta({ id: "Project" });
export type ProjectView = z.infer<typeof ProjectView>;

export const PipelineVersionView = z
  .object({ id: z.string(), version: z.number().int(), hash: z.string(), createdAt: z.string() })
  .meta({ id: "PipelineVersion" });
export type PipelineVersionView = z.infer<typeof PipelineVersionView>;

export const PipelineSummaryView = z
  .object({
    id: z.string(),
    project: z.string(),
    name: z.string(),
    version: PipelineVersionView,
    jobs: z.array(z.string()),
    updatedAt: z.string(),
  })
  .meta({ id: "Pipeline" });
export type PipelineSummaryView = z.infer<typeof PipelineSummaryView>;
