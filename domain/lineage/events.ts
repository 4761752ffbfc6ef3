/**
 * From one committed engine command (the run after it, and its effects in order) to the
 * OpenLineage RunEvents it causes. Each run attempt and each job attempt is an OpenLineage run
 * whose runId is its own UUIDv7; the mapping is DESIGN.md §3 and docs/lineage.md:
 *   CREATED → OTHER, RUNNING → START, a step's metrics → RUNNING, SUCCESS | WARNING → COMPLETE,
 *   FAILED → FAIL (errorMessage facet), KILLED → ABORT; KILLING and RESTARTED send nothing.
 * run-cycle.ts then makes the sequence of each runId a valid run cycle.
 */
import type { Effect, TransitionEffect } from "../run-engine/effects.ts";
import { type JobAttemptState, type JobState, jobStatus, latestJobAttempt, locateJobAttempt, type RunAttemptState, type RunState } from "../run-engine/model.ts";
import type { State } from "../states.ts";
import {
  commonRunFacets,
  errorMessageFacet,
  jobFacets,
  jobFailureMessage,
  outputDatasets,
  parentFacet,
  upstreamParentFacet,
  warningMessage,
} from "./facets.ts";
import { facetBase, PRODUCER, SCHEMA_URL } from "./producer.ts";
import { type CycleLookup, enforceRunCycle } from "./run-cycle.ts";
import type { EventType, RunEvent, RunFacets, YardmasterRunFacet } from "./types.ts";
import { isoTime } from "../time.ts";

export interface LineageInput {
  /** What earlier commands already recorded for a runId (the outbox knows). */
  cycle: CycleLookup;
  /** The last lines of a job attempt's log, for a failure's errorMessage; null when none. */
  logTail?: (jobAttemptId: string) => string | null;
}

type Subject =
  | { kind: "run_attempt"; attempt: RunAttemptState }
  | { kind: "job_attempt"; attempt: RunAttemptState; job: JobState; jobAttempt: JobAttemptState };

interface Intent {
  runId: string;
  type: EventType;
  at: number;
  status: State;
  reason: string | null;
  subject: Subject;
  /** RUNNING: the step that reported metrics. */
  step?: string;
  /** A START put before the end of a run that never started. */
  synthetic?: true;
}

export function eventTypeOf(transition: Pick<TransitionEffect, "from" | "to">): EventType | null {
  switch (transition.to) {
    case "CREATED":
      return transition.from === null ? "OTHER" : null; // RESTARTED → CREATED is the run, not an attempt
    case "RUNNING":
      return "START";
    case "SUCCESS":
    case "WARNING":
      return "COMPLETE";
    case "FAILED":
      return "FAIL";
    case "KILLED":
      return "ABORT";
    default:
      return null; // KILLING, RESTARTED
  }
}

function findRunAttempt(state: RunState, id: string): RunAttemptState | undefined {
  return state.attempts.find((a) => a.id === id);
}

function findJobAttempt(state: RunState, jobAttemptId: string): Subject | undefined {
  const found = locateJobAttempt(state, jobAttemptId);
  return found && { kind: "job_attempt", ...found };
}

function intentsOf(state: RunState, effects: readonly Effect[]): Intent[] {
  const intents: Intent[] = [];
  for (const effect of effects) {
    if (effect.type === "progress") {
      const subject = findJobAttempt(state, effect.jobAttemptId);
      if (!subject || subject.kind !== "job_attempt") continue;
      const at = subject.jobAttempt.steps.find((s) => s.id === effect.stepId)?.endedAt ?? subject.jobAttempt.lastHeartbeatAt ?? 0;
      intents.push({ runId: subject.jobAttempt.id, type: "RUNNING", at, status: "RUNNING", reason: null, subject, step: effect.stepId });
      continue;
    }
    if (effect.type === "awaitingApproval") {
      // An approval job waits for a person: OTHER, before its START (when someone decides).
      const subject = findJobAttempt(state, effect.jobAttemptId);
      if (!subject || subject.kind !== "job_attempt") continue;
      const at = subject.jobAttempt.awaitingSince ?? subject.jobAttempt.createdAt;
      intents.push({ runId: subject.jobAttempt.id, type: "OTHER", at, status: "CREATED", reason: "awaiting_approval", subject });
      continue;
    }
    if (effect.type !== "transition" || (effect.entity !== "run_attempt" && effect.entity !== "job_attempt")) continue;
    const type = eventTypeOf(effect);
    if (!type) continue;
    let subject: Subject | undefined;
    if (effect.entity === "run_attempt") {
      const attempt = findRunAttempt(state, effect.id);
      subject = attempt && { kind: "run_attempt", attempt };
    } else {
      subject = findJobAttempt(state, effect.id);
    }
    if (!subject) continue;
    intents.push({ runId: effect.id, type, at: effect.at, status: effect.to, reason: effect.reason, subject });
  }
  return intents;
}

function yardmasterFacet(state: RunState, intent: Intent): YardmasterRunFacet {
  const { run } = state;
  const s = intent.subject;
  const terminal = intent.type === "COMPLETE" || intent.type === "FAIL" || intent.type === "ABORT";
  const startedAt = s.kind === "run_attempt" ? s.attempt.startedAt : s.jobAttempt.startedAt;
  const facet: YardmasterRunFacet = {
    ...facetBase("yardmaster"),
    runId: run.id,
    runNumber: run.number,
    runAttempt: s.attempt.number,
    trigger: run.trigger,
    branch: run.branch,
    commit: run.commit,
    status: intent.status,
    reason: intent.reason,
  };
  if (intent.synthetic || (terminal && startedAt === null)) facet.neverStarted = true;
  if (intent.status === "WARNING") {
    const jobs = s.kind === "job_attempt" ? [{ key: s.job.key, attempt: s.jobAttempt }] : s.attempt.jobs.map((j) => ({ key: j.key, attempt: latestJobAttempt(j) }));
    const warning = warningMessage(jobs, { named: s.kind === "run_attempt" });
    if (warning) facet.warning = warning;
  }
  if (s.kind === "job_attempt") {
    facet.jobKey = s.job.key;
    facet.jobAttempt = s.jobAttempt.number;
    facet.agent = s.jobAttempt.agentName;
    if (intent.type === "OTHER") facet.waitingOn = s.job.waitingOn;
    if (intent.step) facet.step = intent.step;
    if (intent.type === "RUNNING" || terminal) {
      const metrics = s.jobAttempt.steps.flatMap((step) => step.metrics.map((m) => ({ step: step.id, ...m })));
      if (metrics.length > 0) facet.metrics = metrics;
    }
  }
  return facet;
}

function runAttemptFailure(attempt: RunAttemptState, state: RunState): string {
  const failed = attempt.jobs.filter((j) => jobStatus(j) === "FAILED");
  if (failed.length === 0) return `attempt ${attempt.number} of run #${state.run.number} failed`;
  return failed
    .map((job) => {
      const latest = job.attempts[job.attempts.length - 1];
      const def = state.run.definition.jobs.find((d) => d.key === job.key);
      return latest && def ? jobFailureMessage(def, job, latest).message : `job "${job.key}" failed`;
    })
    .join("; ");
}

function buildEvent(state: RunState, intent: Intent, input: LineageInput): RunEvent {
  const { run } = state;
  const s = intent.subject;
  const facets: RunFacets = { ...commonRunFacets(run), yardmaster: yardmasterFacet(state, intent) };
  const base = { eventType: intent.type, eventTime: isoTime(intent.at), producer: PRODUCER, schemaURL: SCHEMA_URL };
  if (s.kind === "run_attempt") {
    if (intent.type === "FAIL") facets.errorMessage = errorMessageFacet(runAttemptFailure(s.attempt, state), null);
    const upstream = upstreamParentFacet(run);
    if (upstream) facets.parent = upstream;
    return {
      ...base,
      run: { runId: intent.runId, facets },
      job: { namespace: run.project, name: run.pipeline, facets: jobFacets(run, "PIPELINE") },
      inputs: [],
      outputs: [],
    };
  }
  const def = run.definition.jobs.find((j) => j.key === s.job.key);
  facets.parent = parentFacet(run, s.attempt);
  if (intent.type === "FAIL" && def) {
    const { message } = jobFailureMessage(def, s.job, s.jobAttempt);
    facets.errorMessage = errorMessageFacet(message, input.logTail?.(s.jobAttempt.id) ?? null);
  }
  return {
    ...base,
    run: { runId: intent.runId, facets },
    job: { namespace: run.project, name: `${run.pipeline}.${s.job.key}`, facets: jobFacets(run, "JOB") },
    inputs: def ? def.lineage.inputs.map((d) => ({ namespace: d.namespace, name: d.name })) : [],
    outputs: def ? outputDatasets(def, s.jobAttempt.steps) : [],
  };
}

export interface LineageBatch {
  /** In order: per runId a valid run cycle continuing what `cycle` said was recorded. */
  events: RunEvent[];
  /** Events the run cycle did not allow (a bug upstream if ever non-empty). */
  dropped: { runId: string; type: EventType }[];
}

export function lineageEvents(state: RunState, effects: readonly Effect[], input: LineageInput): LineageBatch {
  const intents = intentsOf(state, effects);
  if (intents.length === 0) return { events: [], dropped: [] };
  const { kept, dropped } = enforceRunCycle(intents, input.cycle, (intent) => ({ ...intent, type: "START", step: undefined, synthetic: true }) as Intent);
  return {
    events: kept.map((intent) => buildEvent(state, intent, input)),
    dropped: dropped.map((d) => ({ runId: d.runId, type: d.type })),
  };
}
