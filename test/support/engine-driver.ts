/** Drives the pure run engine the way the RunObject does: keeps the state, applies results. */
import { createRun, engine, type CommandResult, type Effect, type EngineContext, type RunState, DEFAULT_SETTINGS } from "../../domain/run-engine/index.ts";
import type { Pipeline } from "../../domain/pipeline/types.ts";

export class EngineDriver {
  state: RunState;
  now = 1_000_000;
  effects: Effect[] = [];
  private ids = 0;

  constructor(definition: Pipeline) {
    const result = createRun(
      {
        id: "run-1", number: 1, projectId: "p1", project: "acme", repository: null, pipelineId: "pl1",
        pipeline: definition.name, pipelineVersionId: "v1", definition, branch: "main", commit: "abc",
        trigger: "api", params: {}, nominalTime: null,
      },
      this.ctx(),
    );
    if (!result.ok) throw new Error(result.error.message);
    this.state = result.value;
    this.effects.push(...result.effects);
  }

  ctx(): EngineContext {
    return { now: this.now, newId: () => `id-${++this.ids}`, settings: DEFAULT_SETTINGS };
  }

  apply<T>(result: CommandResult<T>): CommandResult<T> {
    if (result.ok) {
      this.state = result.state;
      this.effects.push(...result.effects);
    }
    return result;
  }

  attempt() {
    return this.state.attempts[this.state.attempts.length - 1]!;
  }
  job(key: string) {
    return this.attempt().jobs.find((j) => j.key === key)!;
  }
  latest(key: string) {
    const j = this.job(key);
    return j.attempts[j.attempts.length - 1]!;
  }
  queued(): string[] {
    const dequeued = new Set(this.effects.flatMap((e) => (e.type === "dequeue" ? e.jobAttemptIds : [])));
    return this.effects.flatMap((e) => (e.type === "enqueue" && !dequeued.has(e.item.jobAttemptId) ? [e.item.jobKey] : []));
  }

  assign(key: string, agent = "agent-1") {
    return this.apply(engine.assign(this.state, this.ctx(), { jobAttemptId: this.latest(key).id, agentId: agent, agentName: agent, tokenHash: "h" }));
  }
  step(key: string, stepId: string, status: "RUNNING" | "SUCCESS" | "FAILED" | "WARNING" | "KILLED", attempt = 1, extra = {}) {
    return this.apply(engine.updateStep(this.state, this.ctx(), this.latest(key).id, stepId, { attempt, status, ...extra }));
  }
  finish(key: string, status: "SUCCESS" | "WARNING" | "FAILED" | "KILLED", outputs: Record<string, string> = {}) {
    return this.apply(engine.finishJob(this.state, this.ctx(), this.latest(key).id, { status, outputs }));
  }
  /** Claims and runs a job's single `main` step to the given end. */
  runJob(key: string, status: "SUCCESS" | "FAILED" | "WARNING" = "SUCCESS", outputs: Record<string, string> = {}) {
    this.assign(key);
    this.step(key, "main", "RUNNING");
    this.step(key, "main", status === "WARNING" ? "SUCCESS" : status);
    return this.finish(key, status, outputs);
  }
  cancel() {
    return this.apply(engine.cancel(this.state, this.ctx()));
  }
  rerun(failedOnly = false) {
    return this.apply(engine.rerun(this.state, this.ctx(), failedOnly));
  }
  tick() {
    return this.apply(engine.tick(this.state, this.ctx()));
  }
}
