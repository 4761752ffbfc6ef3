/**
 * Measures the pure run engine's CPU per command over one whole run of N independent one-step
 * jobs and prints it as JSON. Run by bench/engine.ts with tsx (the domain's imports carry no
 * `.ts` extensions, so Node cannot strip-and-run them directly).
 *
 *   tsx bench/engine-probe/probe.ts <jobs> <tries>
 */
import { parsePipeline } from "../../domain/pipeline/parse.ts";
import { type CommandResult, createRun, DEFAULT_SETTINGS, engine, nextDeadline, type RunState } from "../../domain/run-engine/index.ts";

/** The same shape as bench/harness.ts widePipeline (kept here so the probe needs nothing else). */
function widePipeline(count: number): string {
  const jobs = Array.from({ length: count }, (_, i) => `  j${String(i + 1).padStart(4, "0")}:\n    runs-on: [x]\n    steps:\n      - id: s\n        run: "true"\n`);
  return `jobs:\n${jobs.join("")}`;
}

function perCommand(jobs: number, tries: number): { ms: number; commands: number } {
  const parsed = parsePipeline(widePipeline(jobs));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
  const definition = { ...parsed.pipeline, name: "wide" };
  let best = Number.POSITIVE_INFINITY;
  let commands = 0;
  for (let t = 0; t < tries; t++) {
    let ids = 0;
    let now = 1_000_000;
    const ctx = () => ({ now: now++, newId: () => `id-${++ids}`, settings: DEFAULT_SETTINGS });
    const created = createRun(
      { id: "run", number: 1, projectId: "p", project: "p", repository: null, pipelineId: "pl", pipeline: "wide", pipelineVersionId: "v", definition, branch: null, commit: null, trigger: "api", params: {}, nominalTime: null },
      ctx(),
    );
    if (!created.ok) throw new Error(created.error.message);
    let state: RunState = created.state;
    commands = 0;
    const apply = <T>(result: CommandResult<T>) => {
      if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
      state = result.state;
      commands++;
      nextDeadline(state, DEFAULT_SETTINGS); // the RunObject sets its alarm after every command
    };
    const cpu = process.cpuUsage();
    for (const job of created.state.attempts[0]!.jobs) {
      const id = job.attempts[0]!.id;
      apply(engine.assign(state, ctx(), { jobAttemptId: id, agentId: "a", agentName: "a", tokenHash: "h" }));
      apply(engine.updateStep(state, ctx(), id, "s", { attempt: 1, status: "RUNNING" }));
      apply(engine.heartbeat(state, ctx(), id));
      apply(engine.updateStep(state, ctx(), id, "s", { attempt: 1, status: "SUCCESS", exitCode: 0, outputs: {}, metrics: [] }));
      apply(engine.finishJob(state, ctx(), id, { status: "SUCCESS", outputs: {} }));
    }
    const used = process.cpuUsage(cpu);
    if (state.run.status !== "SUCCESS") throw new Error(`the run ended ${state.run.status}`);
    best = Math.min(best, (used.user + used.system) / 1000 / commands);
  }
  return { ms: best, commands };
}

const [jobs, tries] = process.argv.slice(2).map(Number);
console.log(JSON.stringify(perCommand(jobs ?? 10, tries ?? 3)));
