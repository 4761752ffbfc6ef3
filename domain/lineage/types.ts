/**
 * The part of the OpenLineage 2-0-2 object model Yardmaster emits: RunEvents with the facets
 * listed in docs/lineage.md. The official JSON Schemas are the authority; these types only
 * keep the builders honest.
 */
import type { Metric } from "../protocol.ts";
import type { State } from "../states.ts";

export const EVENT_TYPES = ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"] as const;
export type EventType = (typeof EVENT_TYPES)[number];
export const TERMINAL_EVENT_TYPES: readonly EventType[] = ["COMPLETE", "ABORT", "FAIL"];

export interface FacetBase {
  _producer: string;
  _schemaURL: string;
}

export interface JobTypeFacet extends FacetBase {
  processingType: "BATCH";
  integration: "YARDMASTER";
  jobType: "PIPELINE" | "JOB";
}

export interface SourceCodeLocationFacet extends FacetBase {
  type: "git";
  url: string;
  repoUrl: string;
  version?: string;
  branch?: string;
}

export interface JobFacets {
  jobType: JobTypeFacet;
  sourceCodeLocation?: SourceCodeLocationFacet;
}

export interface JobRef {
  namespace: string;
  name: string;
  facets?: { jobType: JobTypeFacet };
}

export interface ParentRunFacet extends FacetBase {
  run: { runId: string };
  job: JobRef;
  root: { run: { runId: string }; job: JobRef };
}

export interface YardmasterRunFacet extends FacetBase {
  /** Yardmaster's run (all attempts), its number in the project, and the attempt. */
  runId: string;
  runNumber: number;
  runAttempt: number;
  trigger: string;
  branch: string | null;
  commit: string | null;
  jobKey?: string;
  jobAttempt?: number;
  /** Yardmaster's own state at this event (WARNING is COMPLETE in OpenLineage). */
  status: State;
  reason: string | null;
  agent?: string | null;
  /** OTHER while waiting: the needs not met yet (empty: waiting for an agent). */
  waitingOn?: string[];
  /**
   * WARNING events: why it warned, e.g. a metric gate's breach naming the metric, its value and
   * the bound; a run attempt's names each job that warned.
   */
  warning?: string;
  /** START and terminal events of a run that ended without ever running. */
  neverStarted?: true;
  /** RUNNING: the step whose report caused this event. */
  step?: string;
  metrics?: (Metric & { step: string })[];
}

export interface RunFacets {
  parent?: ParentRunFacet;
  nominalTime?: FacetBase & { nominalStartTime: string };
  errorMessage?: FacetBase & { message: string; programmingLanguage: string; stackTrace?: string };
  processing_engine: FacetBase & { name: string; version: string; openlineageAdapterVersion: string };
  yardmaster: YardmasterRunFacet;
}

export interface OutputStatistics extends FacetBase {
  rowCount?: number;
  size?: number;
  fileCount?: number;
}

export interface InputDataset {
  namespace: string;
  name: string;
}

export interface OutputDataset {
  namespace: string;
  name: string;
  outputFacets?: { outputStatistics: OutputStatistics };
}

export interface RunEvent {
  eventType: EventType;
  eventTime: string;
  producer: string;
  schemaURL: string;
  run: { runId: string; facets: RunFacets };
  job: { namespace: string; name: string; facets: JobFacets };
  inputs: InputDataset[];
  outputs: OutputDataset[];
}
