/**
 * Concurrency groups, the engine's side (docs/state-machine.md, "Concurrency groups"). A run
 * attempt of a pipeline with `concurrency:` claims its group when it opens; a job with its own
 * `concurrency:` claims its group when its needs and condition would let it be queued. A claim
 * is `waiting` until the project's ConcurrencyGroupsObject grants it (`grant`), `held` while
 * its holder lives, and `released` by the command that ends its holder (`settleClaims`, run for
 * every command). While a claim waits its jobs wait CREATED with
 * `waitingOn: ["concurrency: <group>"]`, never queued. With `cancel-in-progress` the group
 * object tells the older holders they are `superseded`: the run (job) is cancelled with that
 * reason and names the newer run. The engine never decides who holds a group: only the group
 * object, one per project, does, so no two holders ever slip through together.
 */
import { groupWait, renderGroup } from "../pipeline/concurrency.ts";
import type { PipelineJob } from "../pipeline/types.ts";
import { isTerminal, type Reason } from "../states.ts";
import { cancelRun, stopJob } from "./control.ts";
import { runContext } from "./job-conditions.ts";
import { enqueueReadyJobs } from "./jobs-graph.ts";
import { type ConcurrencyClaim, type JobState, jobStatus, type RunAttemptState, type RunState } from "./model.ts";
import type { Txn } from "./txn.ts";

/** The reason a run (job) cancelled by a newer one of its group ends with. */
export const SUPERSEDED: Reason = "superseded";

function params(state: RunState): Record<string, string> {
  const defaults = Object.entries(state.run.definition.params).flatMap(([name, p]) => (p.default === undefined ? [] : [[name, p.default]]));
  return { ...Object.fromEntries(defaults), ...state.run.params };
}

function acquire(txn: Txn, claim: ConcurrencyClaim, holder: string, label: string): void {
  txn.effects.push({ type: "concurrency", op: "acquire", group: claim.group, holder, cancelInProgress: claim.cancelInProgress, label });
}

/** A new run attempt of a pipeline with `concurrency:` asks for its group (from openAttempt). */
export function claimRunGroup(txn: Txn, attempt: RunAttemptState): void {
  const spec = txn.state.run.definition.concurrency;
  if (!spec) return;
  const group = renderGroup(spec, { run: runContext(txn.state), params: params(txn.state), matrix: null });
  attempt.concurrency = { group, cancelInProgress: spec.cancelInProgress, status: "waiting" };
  acquire(txn, attempt.concurrency, attempt.id, `run #${txn.state.run.number}`);
}

/**
 * For a job its needs and condition would queue now: what it still waits on for a group — the
 * run's, then its own, which it asks for here the first time — or null when it may be queued.
 */
export function groupWaitOf(txn: Txn, def: PipelineJob, shared: JobState): string[] | null {
  const runClaim = txn.attempt.concurrency;
  if (runClaim && runClaim.status !== "held") return [groupWait(runClaim.group)];
  if (!def.concurrency) return null;
  if (!shared.concurrency) {
    const job = txn.own(shared);
    const group = renderGroup(def.concurrency, { run: runContext(txn.state), params: params(txn.state), matrix: def.matrix?.values ?? null });
    job.concurrency = { group, cancelInProgress: def.concurrency.cancelInProgress, status: "waiting" };
    txn.touchJob(job);
    acquire(txn, job.concurrency, job.id, `run #${txn.state.run.number} · ${job.key}`);
    return [groupWait(group)];
  }
  return shared.concurrency.status === "held" ? null : [groupWait(shared.concurrency.group)];
}

/** The claim `holder` names in the current attempt: the attempt's own, or one of its jobs'. */
function findClaim(txn: Txn, holder: string): { attempt: true } | { job: JobState } | null {
  if (txn.attempt.id === holder && txn.attempt.concurrency) return { attempt: true };
  const job = txn.attempt.jobs.find((j) => j.id === holder && j.concurrency);
  return job ? { job } : null;
}

/**
 * The group object granted `holder` its group: its jobs go on. `released` when the holder has
 * ended meanwhile (or belongs to an attempt no longer current): the caller gives the group back.
 */
export function grant(txn: Txn, holder: string): "held" | "released" {
  const found = findClaim(txn, holder);
  if (!found) return "released";
  if ("attempt" in found) {
    const claim = txn.attempt.concurrency!;
    if (claim.status !== "waiting") return claim.status;
    txn.attempt.concurrency = { ...claim, status: "held" };
    txn.touchAttempt(txn.attempt);
  } else {
    const claim = found.job.concurrency!;
    if (claim.status !== "waiting") return claim.status;
    const job = txn.own(found.job);
    job.concurrency = { ...claim, status: "held" };
    txn.touchJob(job);
  }
  enqueueReadyJobs(txn);
  return "held";
}

/** A newer run of the group, with `cancel-in-progress`, supersedes `holder`: it is cancelled, reason `superseded`. */
export function supersede(txn: Txn, holder: string, by: { runId: string; runNumber: number }): void {
  const found = findClaim(txn, holder);
  if (!found) return;
  if ("attempt" in found) {
    const attempt = txn.attempt;
    if (isTerminal(attempt.status) || attempt.status === "KILLING") return;
    attempt.concurrency = { ...attempt.concurrency!, supersededBy: by };
    txn.touchAttempt(attempt);
    cancelRun(txn, SUPERSEDED);
    return;
  }
  if (isTerminal(jobStatus(found.job))) return;
  const job = txn.own(found.job);
  job.concurrency = { ...job.concurrency!, supersededBy: by };
  txn.touchJob(job);
  stopJob(txn, job, SUPERSEDED);
}

/**
 * Every command ends here (Txn.result): a claim whose holder has ended — the attempt, or the
 * job with no retry to come — is given back, whatever ended it (success, failure, cancel,
 * timeout, lost agent, superseded). So a group is never left held by something over.
 */
export function settleClaims(txn: Txn): void {
  const attempt = txn.state.attempts[txn.state.attempts.length - 1];
  if (!attempt) return;
  const release = (claim: ConcurrencyClaim, holder: string) =>
    txn.effects.push({ type: "concurrency", op: "release", group: claim.group, holder });
  if (attempt.concurrency && attempt.concurrency.status !== "released" && isTerminal(attempt.status)) {
    release(attempt.concurrency, attempt.id);
    attempt.concurrency = { ...attempt.concurrency, status: "released" };
    txn.touchAttempt(attempt);
  }
  for (const shared of attempt.jobs) {
    if (!shared.concurrency || shared.concurrency.status === "released" || !isTerminal(jobStatus(shared))) continue;
    const job = txn.own(shared);
    release(job.concurrency!, job.id);
    job.concurrency = { ...job.concurrency!, status: "released" };
    txn.touchJob(job);
  }
}

/** What the project's ConcurrencyGroupsObject tells a run about one of its claims. */
export type GroupCall = { op: "grant"; holder: string } | { op: "supersede"; holder: string; by: { runId: string; runNumber: number } };

/** Applies a group call; answers whether `holder` now holds the group (`released`: give it back). */
export function applyGroupCall(txn: Txn, call: GroupCall): "held" | "released" {
  if (call.op === "grant") return grant(txn, call.holder);
  supersede(txn, call.holder, call.by);
  return "released";
}
