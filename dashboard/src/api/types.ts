/**
 * Response shapes. Runs, artifacts, queue entries and agents come from domain/api.ts (the zod
 * schemas the worker documents its routes with; only their types are imported, so no zod ships
 * to the browser), as do projects, pipelines, pages, sessions and pipeline problems.
 */
import type { PipelineSummaryView, PipelineVersionView, ProjectView, QueueEntryView } from "../../../domain/views.ts";

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
} from "../../../domain/views.ts";
export type { State } from "../../../domain/states.ts";
export type { Page, SessionView as Session } from "../../../domain/views.ts";
export type { PipelineProblem } from "../../../domain/pipeline/types.ts";

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

export type { DatasetView, LineageTriggerRecordView } from "../../../domain/lineage/ingest-api.ts";
