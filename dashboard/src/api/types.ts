/**
 * Response shapes. Runs and artifacts come from domain/api.ts (the zod schemas the worker
 * documents its routes with; only their types are imported, so no zod ships to the browser).
 * The others mirror the route schemas in worker/routes/ (projects.ts, queue.ts, session.ts).
 */
export type {
  ArtifactView,
  JobAttemptView,
  JobView,
  RunAttemptView,
  RunSummaryView,
  RunView,
  StepView,
} from "../../../domain/api";
export type { State } from "../../../domain/states";

export interface Page<T> {
  items: T[];
  cursor: string | null;
}

export interface Session {
  kind: "admin" | "token";
  name: string;
  scopes: ("read" | "run" | "admin")[];
  projects: string[] | null;
}

export interface Project {
  id: string;
  slug: string;
  name: string;
  repository: string | null;
  createdAt: string;
}

export interface PipelineVersion {
  id: string;
  version: number;
  hash: string;
  createdAt: string;
}

export interface PipelineSummary {
  id: string;
  project: string;
  name: string;
  version: PipelineVersion;
  jobs: string[];
  updatedAt: string;
}

export interface PipelineParam {
  default?: string;
  description?: string;
}

export interface PipelineDetail extends PipelineSummary {
  content: string;
  definition: { params?: Record<string, PipelineParam> };
  versions: PipelineVersion[];
}

export interface PipelineProblem {
  message: string;
  line: number;
  column: number;
  path: (string | number)[];
}

export interface QueueEntry {
  jobAttemptId: string;
  runId: string;
  runNumber: number;
  project: string;
  pipeline: string;
  jobKey: string;
  runAttempt: number;
  jobAttempt: number;
  labels: string[];
  priority: number;
  readyAt: number;
  state: "queued" | "assigned";
  /** REST only (the live stream has `order`); the page counts positions itself. */
  position?: number | null;
  agent: string | null;
  assignedAt: string | null;
}

export interface QueueView {
  pending: QueueEntry[];
  running: QueueEntry[];
}

export interface AgentView {
  id: string;
  name: string;
  queue: string;
  labels: string[];
  version: string;
  hostname: string | null;
  state: "idle" | "busy" | "lost" | "stopped" | "revoked";
  jobs: { jobAttemptId: string; runId: string; runNumber: number; project: string; pipeline: string; job: string }[];
  lastSeenAt: string;
  createdAt: string;
}
