/**
 * Response shapes. Runs, artifacts, queue entries and agents come from domain/api.ts (the zod
 * schemas the worker documents its routes with; only their types are imported, so no zod ships
 * to the browser), as do projects and pipelines; the session mirrors worker/routes/session.ts.
 */
import type { PipelineSummaryView, PipelineVersionView, ProjectView, QueueEntryView } from "../../../domain/api.ts";

export type {
  AgentView,
  QueueView as QueueInfo,
  QueueMetrics,
  ArtifactView,
  JobAttemptView,
  JobView,
  RunAttemptView,
  RunSummaryView,
  RunView,
  StepView,
} from "../../../domain/api.ts";
export type { State } from "../../../domain/states.ts";

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

export type Project = ProjectView;
export type PipelineVersion = PipelineVersionView;
export type PipelineSummary = PipelineSummaryView;

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

/**
 * A queue entry as the queue page keeps it: from the REST view (which counts `position` and
 * `waitMs`) or from the live stream (which does not: the page counts positions and wait times
 * itself).
 */
export type QueueEntry = Omit<QueueEntryView, "position" | "waitMs"> & { position?: number | null };

export interface QueueView {
  pending: QueueEntry[];
  running: QueueEntry[];
}
