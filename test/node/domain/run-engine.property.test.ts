/**
 * Property test of the run engine: random small pipelines (job DAGs with retries and retry
 * policies, conditions, matrices; step graphs with step retries) and random sequences of commands — agents claiming, reporting steps,
 * finishing with any status and heartbeating; people cancelling runs or jobs and re-running
 * (all or failed-only); the clock jumping; and commands that are wrong on purpose. After every
 * command CheckedRun (test/support/checked-run.ts) checks the invariants of DESIGN.md §3; at
 * the end, ticks and well-behaved agents must bring the run to an end.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { engine, type JobAttemptState, jobStatus, DEFAULT_SETTINGS, nextDeadline } from "../../../domain/run-engine/index.ts";
import { isTerminal, type State } from "../../../domain/states.ts";
import { CheckedRun, ensure } from "../../support/checked-run.ts";
import { skipped } from "../../support/condition-oracle.ts";
import { type Cmd, cmdArb, pipelineArb } from "../../support/run-engine-arbitraries.ts";

// ── running a command ────────────────────────────────────────────────────────────────────────

const FAILED_OR_KILLED: State[] = ["FAILED", "KILLED"];

/**
 * The latest attempt of a job of the current run attempt. Indexes below 7 pick among jobs on an
 * agent (RUNNING or KILLING) when there are any, so agents' reports mostly reach live jobs;
 * the others pick among all jobs.
 */
function latestOf(r: CheckedRun, n: number): JobAttemptState | undefined {
  const all = r.attempt.jobs.map((j) => j.attempts[j.attempts.length - 1]);
  const live = all.filter((a) => a?.status === "RUNNING" || a?.status === "KILLING");
  const pool = n < 7 && live.length > 0 ? live : all;
  return pool[n % pool.length];
}

function stepAttemptNumber(r: CheckedRun, jobN: number, stepN: number, a: "next" | "last" | number): { id: string; attempt: number; stepId: string } | null {
  const ja = latestOf(r, jobN);
  if (!ja || ja.steps.length === 0) return null;
  const s = ja.steps[stepN % ja.steps.length]!;
  const attempt = a === "next" ? s.attempts.length + 1 : a === "last" ? Math.max(1, s.attempts.length) : a;
  return { id: ja.id, attempt, stepId: s.id };
}

const agentInput = (id: string, agent = 0) => ({ jobAttemptId: id, agentId: `agent-${agent}`, agentName: `agent-${agent}`, tokenHash: "h" });

function run(r: CheckedRun, cmd: Cmd): void {
  switch (cmd.t) {
    case "assignQueued": {
      const queued = [...r.queued];
      if (queued.length === 0) return;
      const id = queued[cmd.pick % queued.length]!;
      const res = r.exec(`assign queued ${id}`, (s, c) => engine.assign(s, c, agentInput(id, cmd.agent)));
      // A queued job is always claimable (cancelling takes it out of the queue first).
      ensure(res.ok, () => `a queued job could not be claimed\n${r.log.join("\n")}`);
      return;
    }
    case "assign": {
      const ja = latestOf(r, cmd.job);
      if (!ja) return;
      const wasQueued = r.queued.has(ja.id);
      const res = r.exec(`assign ${ja.id}`, (s, c) => engine.assign(s, c, agentInput(ja.id)));
      ensure(res.ok === wasQueued, () => `assign of ${ja.status} ${ja.id}: ok=${res.ok}, queued=${wasQueued}`);
      return;
    }
    case "stepStart": {
      const at = stepAttemptNumber(r, cmd.job, cmd.step, cmd.attempt);
      if (!at) return;
      r.exec(`step ${at.id}/${at.stepId}#${at.attempt} RUNNING`, (s, c) => engine.updateStep(s, c, at.id, at.stepId, { attempt: at.attempt, status: "RUNNING" }));
      return;
    }
    case "stepEnd": {
      const at = stepAttemptNumber(r, cmd.job, cmd.step, cmd.attempt);
      if (!at) return;
      const update = {
        attempt: at.attempt,
        status: cmd.status,
        exitCode: cmd.status === "FAILED" ? 1 : 0,
        ...(cmd.out ? { outputs: { v: String(at.attempt) }, metrics: [{ name: "n", kind: "counter" as const, value: 1 }] } : {}),
      };
      r.exec(`step ${at.id}/${at.stepId}#${at.attempt} ${cmd.status}`, (s, c) => engine.updateStep(s, c, at.id, at.stepId, update));
      return;
    }
    case "finish": {
      const ja = latestOf(r, cmd.job);
      if (!ja) return;
      const was = ja.status;
      const res = r.exec(`finish ${ja.id} ${cmd.status}`, (s, c) => engine.finishJob(s, c, ja.id, { status: cmd.status, outputs: { out: ja.id }, exitCode: cmd.exitCode }));
      ensure(!(was === "CREATED" && res.ok), () => "an unclaimed job cannot finish");
      ensure(!(res.ok && was === "KILLING" && res.value.status !== "KILLED"), () => "a cancelled job ends KILLED whatever the agent saw");
      return;
    }
    case "heartbeat": {
      const ja = latestOf(r, cmd.job);
      if (!ja) return;
      const res = r.exec(`heartbeat ${ja.id}`, (s, c) => engine.heartbeat(s, c, ja.id));
      ensure(res.ok === (ja.status === "RUNNING" || ja.status === "KILLING"), () => `heartbeat of a ${ja.status} job: ok=${res.ok}`);
      ensure(!res.ok || res.value.cancel === (ja.status === "KILLING"), () => "the heartbeat carries the cancel signal exactly while KILLING");
      return;
    }
    case "cancel": {
      const live = !isTerminal(r.attempt.status);
      const queuedBefore = [...r.queued];
      const res = r.exec("cancel", (s, c) => engine.cancel(s, c));
      ensure(res.ok === live, () => `cancel of a ${r.attempt.status} attempt: ok=${res.ok}`);
      if (!res.ok) return;
      for (const e of res.effects) {
        if (e.type === "transition" && e.entity === "job_attempt") {
          expect([`CREATED>KILLED`, `RUNNING>KILLING`, `KILLING>KILLED`]).toContain(`${e.from}>${e.to}`);
        }
      }
      for (const j of r.attempt.jobs) expect(["KILLING", "KILLED", "SUCCESS", "WARNING", "FAILED"]).toContain(jobStatus(j));
      expect(["KILLING", "KILLED"]).toContain(r.attempt.status);
      expect(queuedBefore.filter((id) => r.queued.has(id)), "cancel leaves nothing in the queue").toEqual([]);
      return;
    }
    case "cancelJobs": {
      const ids = cmd.jobs.flatMap((n) => latestOf(r, n)?.id ?? []);
      if (cmd.bogus) ids.push("no-such-job-attempt");
      const res = r.exec(`cancelJobs ${ids.join(",")}`, (s, c) => engine.cancelJobs(s, c, ids));
      if (res.ok) expect(res.value).not.toContain("no-such-job-attempt");
      return;
    }
    case "rerun": {
      const before = r.state;
      // Chosen jobs: any finished run, SUCCESS included (then failedOnly is not given).
      const chosen = cmd.jobs && [...new Set(cmd.jobs.map((n) => r.attempt.jobs[n % r.attempt.jobs.length]!.key))];
      const failedOnly = chosen ? false : cmd.failedOnly;
      const rerunnable = (chosen ? ["SUCCESS"] : []).concat(["FAILED", "KILLED", "WARNING"]).includes(before.run.status);
      // A skipped job (condition false) is not a failure: failed-only leaves it be.
      const failed = r.attempt.jobs.filter((j) => FAILED_OR_KILLED.includes(jobStatus(j)) && !skipped(j)).map((j) => j.key);
      const res = r.exec(`rerun failedOnly=${failedOnly} jobs=${chosen}`, (s, c) => engine.rerun(s, c, chosen ? { jobs: chosen } : failedOnly));
      ensure(res.ok === (rerunnable && (!failedOnly || failed.length > 0)), () => `rerun of a ${before.run.status} run: ok=${res.ok}`);
      if (!res.ok) return;
      const previous = before.attempts[before.attempts.length - 1]!;
      expect(r.state.attempts).toHaveLength(before.attempts.length + 1);
      // failedOnly: the failed/killed jobs and everything downstream run again; the rest keep their result.
      const again = new Set(chosen ?? (failedOnly ? failed : previous.jobs.map((j) => j.key)));
      for (let grew = true; grew; ) {
        grew = false;
        for (const j of previous.jobs) if (!again.has(j.key) && j.needs.some((n) => again.has(n))) grew = again.add(j.key).size > 0;
      }
      for (const j of r.attempt.jobs) {
        const old = previous.jobs.find((p) => p.key === j.key)!;
        if (again.has(j.key)) {
          expect(j.reused).toBeNull();
          // Run again: one new attempt, waiting or queued — or already ended by its condition.
          expect(j.attempts).toHaveLength(1);
          const first = j.attempts[0]!;
          ensure(first.status === "CREATED" || (first.status === "KILLED" && ["skipped", "needs_failed"].includes(first.reason ?? "")), () => `${j.key} re-run as ${first.status} ${first.reason}`);
        } else {
          expect(j.reused?.status).toBe(jobStatus(old));
          expect(j.outputs).toEqual(old.outputs);
        }
      }
      return;
    }
    case "approve": {
      const j = r.attempt.jobs[cmd.job % r.attempt.jobs.length]!;
      const awaiting = j.attempts[j.attempts.length - 1]?.status === "CREATED" && j.waitingOn.join() === "approval";
      const decision = cmd.approve ? { approve: true as const, inputs: { why: "ok" }, by: "pat" } : { approve: false as const, reason: "no", by: "pat" };
      const res = r.exec(`${cmd.approve ? "approve" : "reject"} ${j.key}`, (s, c) => engine.decideApproval(s, c, j.key, decision));
      ensure(res.ok === awaiting, () => `decision on ${j.key} (awaiting=${awaiting}): ok=${res.ok}`);
      if (res.ok) expect(jobStatus(res.value)).toBe(cmd.approve ? "SUCCESS" : "FAILED");
      return;
    }
    case "group": {
      const claims = groupClaims(r).filter((c) => (cmd.supersede ? c.status !== "released" : c.status === "waiting"));
      const claim = claims[cmd.pick % Math.max(1, claims.length)];
      if (!claim) return;
      const call = cmd.supersede ? { op: "supersede" as const, holder: claim.holder, by: { runId: "run-2", runNumber: 2 } } : { op: "grant" as const, holder: claim.holder };
      const res = r.exec(`${call.op} ${claim.holder}`, (s, c) => engine.groupCall(s, c, call));
      ensure(res.ok, () => `group call ${call.op} refused\n${r.log.join("\n")}`);
      if (!cmd.supersede) expect(res.ok && res.value).toBe("held");
      return;
    }
    case "tick":
      r.now += cmd.advance;
      r.exec(`tick +${cmd.advance}`, (s, c) => engine.tick(s, c));
      return;
    case "wrong":
      wrong(r, cmd);
  }
}

/** Commands that are wrong whatever the state: each must be refused. */
function wrong(r: CheckedRun, cmd: Extract<Cmd, { t: "wrong" }>): void {
  const ja = latestOf(r, cmd.job);
  const refuse = (label: string, f: Parameters<CheckedRun["exec"]>[1]) => ensure(!r.exec(label, f).ok, () => `${label} was accepted`);
  switch (cmd.kind) {
    case "unknownAttempt":
      refuse("heartbeat unknown", (s, c) => engine.heartbeat(s, c, "nope"));
      refuse("finish unknown", (s, c) => engine.finishJob(s, c, "nope", { status: "SUCCESS", outputs: {} }));
      refuse("assign unknown", (s, c) => engine.assign(s, c, agentInput("nope")));
      return;
    case "olderAttempt": {
      const older = r.state.attempts.slice(0, -1).flatMap((a) => a.jobs.flatMap((j) => j.attempts.map((x) => x.id)));
      const id = older[cmd.job % Math.max(1, older.length)];
      if (!id) return;
      refuse("finish older", (s, c) => engine.finishJob(s, c, id, { status: "FAILED", outputs: {} }));
      refuse("step older", (s, c) => engine.updateStep(s, c, id, "s0", { attempt: 1, status: "RUNNING" }));
      return;
    }
    case "unknownStep":
      if (ja) refuse("unknown step", (s, c) => engine.updateStep(s, c, ja.id, "no-such-step", { attempt: 1, status: "RUNNING" }));
      return;
    case "stepZero":
      if (ja?.steps[0]) refuse("step attempt 0", (s, c) => engine.updateStep(s, c, ja.id, ja.steps[0]!.id, { attempt: 0, status: "RUNNING" }));
      return;
    case "reassign":
      if (ja && ja.status !== "CREATED") refuse("assign again", (s, c) => engine.assign(s, c, agentInput(ja.id, 1)));
      return;
    case "finishUnclaimed":
      if (ja && ja.status === "CREATED") refuse("finish unclaimed", (s, c) => engine.finishJob(s, c, ja.id, { status: "SUCCESS", outputs: {} }));
  }
}

/** Time passes until every deadline is over: nothing may stay RUNNING or KILLING. */
function tickPastEverything(r: CheckedRun): void {
  const longest = Math.max(...r.state.run.definition.jobs.map((j) => j.timeoutMs));
  r.now += longest + DEFAULT_SETTINGS.timeoutGraceMs + DEFAULT_SETTINGS.lostAfterMs + DEFAULT_SETTINGS.killGraceMs;
  expect(r.exec("tick to the end", (s, c) => engine.tick(s, c)).ok).toBe(true);
  for (const j of r.attempt.jobs) {
    const latest = j.attempts[j.attempts.length - 1];
    ensure(latest?.status !== "RUNNING" && latest?.status !== "KILLING", () => `${j.key} still ${latest?.status} after every deadline\n${r.log.join("\n")}`);
  }
  expect(r.attempt.status, "an attempt is never stuck KILLING").not.toBe("KILLING");
}

/**
 * Nothing queued: a person approves what waits for approval, else time passes to the next
 * deadline (a retry's backoff, an approval's timeout) and the clock ticks.
 */
function waitForQueue(r: CheckedRun): boolean {
  if (r.queued.size > 0) return true;
  // The group object grants what waits (this run is the only one in its groups).
  const waiting = groupClaims(r).filter((c) => c.status === "waiting");
  for (const { holder } of waiting) expect(r.exec(`drive grant ${holder}`, (s, c) => engine.groupCall(s, c, { op: "grant", holder })).ok).toBe(true);
  if (waiting.length > 0) return true;
  const awaiting = r.attempt.jobs.filter((j) => j.attempts[j.attempts.length - 1]?.status === "CREATED" && j.waitingOn.join() === "approval");
  for (const j of awaiting) {
    expect(r.exec(`drive approve ${j.key}`, (s, c) => engine.decideApproval(s, c, j.key, { approve: true, inputs: {}, by: "pat" })).ok).toBe(true);
  }
  if (awaiting.length > 0) return true;
  const next = nextDeadline(r.state, DEFAULT_SETTINGS);
  if (next === null) return false;
  r.now = Math.max(r.now, next);
  expect(r.exec("tick to the next deadline", (s, c) => engine.tick(s, c)).ok).toBe(true);
  return true;
}

/** The current attempt's concurrency claims: the attempt's own and its jobs'. */
function groupClaims(r: CheckedRun): { holder: string; status: string }[] {
  const { attempt } = r;
  return [
    ...(attempt.concurrency ? [{ holder: attempt.id, status: attempt.concurrency.status }] : []),
    ...attempt.jobs.flatMap((j) => (j.concurrency ? [{ holder: j.id, status: j.concurrency.status }] : [])),
  ];
}

/** Well-behaved agents take every queued job and succeed: the run must reach its end. */
function driveToEnd(r: CheckedRun): void {
  for (let round = 0; !isTerminal(r.attempt.status); round++) {
    ensure(round < 50, () => `run stuck ${r.attempt.status}\n${r.log.join("\n")}`);
    const moved = waitForQueue(r);
    ensure(moved, () => `run ${r.attempt.status} with nothing queued, running or awaiting approval\n${r.log.join("\n")}`);
    const queued = [...r.queued];
    for (const id of queued) {
      ensure(r.exec(`drive assign ${id}`, (s, c) => engine.assign(s, c, agentInput(id))).ok, () => `could not claim ${id}`);
      ensure(r.exec(`drive finish ${id}`, (s, c) => engine.finishJob(s, c, id, { status: "SUCCESS", outputs: {} })).ok, () => `could not finish ${id}`);
    }
  }
}

describe("run engine: random pipelines and commands keep every invariant", () => {
  it("never leaves a run illegal or half-applied, and every run can end", () => {
    fc.assert(
      fc.property(pipelineArb, fc.array(fc.tuple(cmdArb, fc.integer({ min: 0, max: 4_000 })), { maxLength: 80, size: "max" }), (definition, cmds) => {
        const r = new CheckedRun(definition);
        for (const [cmd, dt] of cmds) {
          r.now += dt;
          run(r, cmd);
        }
        tickPastEverything(r);
        driveToEnd(r);
        // The end is final: a successful run cannot be re-run, an ended one cannot be cancelled.
        expect(r.exec("cancel ended", (s, c) => engine.cancel(s, c)).ok).toBe(false);
        if (r.state.run.status === "SUCCESS") expect(r.exec("rerun success", (s, c) => engine.rerun(s, c, false)).ok).toBe(false);
      }),
      { numRuns: Number(process.env.PROP_RUNS ?? 300) },
    );
  }, 120_000);

  it("re-running over and over keeps every earlier attempt exactly as it was", () => {
    fc.assert(
      fc.property(pipelineArb, fc.array(fc.tuple(fc.boolean(), fc.nat({ max: 9 })), { minLength: 1, maxLength: 5 }), (definition, rounds) => {
        const r = new CheckedRun(definition);
        for (const [failedOnly, failing] of rounds) {
          // One job fails (or all succeed), the run ends, then it is re-run.
          let n = 0;
          for (let round = 0; !isTerminal(r.attempt.status); round++) {
            expect(round).toBeLessThan(50);
            expect(waitForQueue(r)).toBe(true);
            const queued = [...r.queued];
            for (const id of queued) {
              r.exec("assign", (s, c) => engine.assign(s, c, agentInput(id)));
              const status = n++ === failing ? "FAILED" : "SUCCESS";
              r.exec("finish", (s, c) => engine.finishJob(s, c, id, { status, outputs: { n: String(n) } }));
            }
          }
          const res = r.exec("rerun", (s, c) => engine.rerun(s, c, failedOnly));
          if (!res.ok) expect(r.state.run.status === "SUCCESS" || (failedOnly && r.state.run.status === "WARNING")).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  }, 60_000);
});
