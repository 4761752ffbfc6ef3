/**
 * The run engine's own cost per command, in a small run and in wide ones. No runtime, no
 * network: the pure engine (domain/run-engine) driven the way the RunObject drives it — every
 * job claimed, its step started and ended, a heartbeat, the job finished, and after each command
 * the next deadline computed. A command touches one job, so its cost should not grow with the
 * number of jobs in the run: the wide run's CPU per command against the small run's is the
 * figure (DESIGN.md §6: no hot path may grow with history size). The measuring itself happens
 * in bench/engine-probe/probe.ts, run with tsx.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { type Benchmark, figure, ROOT, round } from "./harness.ts";

/** CPU ms per command over a whole run of `jobs` jobs, best of `tries` runs. */
function probe(jobs: number, tries: number): { ms: number; commands: number } {
  const r = spawnSync(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "bench/engine-probe/probe.ts"), String(jobs), String(tries)], { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`the engine probe failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as { ms: number; commands: number };
}

export const engineCost: Benchmark = {
  name: "engine",
  title: "Run engine: CPU per command against run size",
  async run({ quick, progress }) {
    const wide = quick ? 200 : 1000;
    progress.update("10-job runs", true);
    const small = probe(10, 50);
    progress.update("500-job runs", true);
    const mid = probe(500, quick ? 1 : 3);
    progress.update(`${wide}-job runs`, true);
    const large = probe(wide, quick ? 1 : 3);
    return {
      definition: [
        "The pure run engine (`domain/run-engine`), in the benchmark's own process, driven as the RunObject drives it: every job",
        "of a run of independent one-step jobs is assigned, its step started, a heartbeat, its step ended, the job finished —",
        "five commands a job — and after each command the next deadline is computed (the RunObject's alarm). CPU time",
        "(`process.cpuUsage`) per command over the whole run, best of several runs. No runtime, storage or network: the figure",
        "is the engine's own cost, which the RunObject pays for every call an agent makes.",
        "",
        `- **Baseline**: the same per-command cost in a 10-job run; the ratio says whether a command costs more in a wide run.`,
      ].join("\n"),
      limit: [
        "A command changes one job (and sometimes the attempt), so nothing in it has to depend on the run's size but finding",
        "that job. Before copy-on-write (bench/improvements.md) every command deep-copied the whole current attempt: 5.3 ms per",
        "command in a 500-job run, 14 ms in a 1,000-job run, a whole run quadratic. What still grows is a handful of plain scans",
        "of the attempt's jobs per command — finding the job attempt, checking which jobs became ready after a finish, whether the",
        `attempt is over, the next deadline — about ${(((large.ms - small.ms) / (wide - 10)) * 1e6).toFixed(0)} ns per job per command: ${(large.ms / small.ms).toFixed(1)}× the 10-job cost at ${wide.toLocaleString("en")} jobs, and`,
        `${((large.ms * large.commands) / 1000).toFixed(2)} s of engine CPU for the whole ${wide.toLocaleString("en")}-job run. Removing those would take indexes kept across commands;`,
        "at these sizes the RunObject's storage writes per command cost far more.",
      ].join("\n"),
      figures: [
        figure("engine.500", "Engine CPU per command, 500-job run", mid.ms, "ms", {
          baseline: { label: "the same, 10-job run", value: small.ms, unit: "ms" },
        }),
        figure(`engine.${wide}`, `Engine CPU per command, ${wide.toLocaleString("en")}-job run`, large.ms, "ms", {
          baseline: { label: "the same, 10-job run", value: small.ms, unit: "ms" },
        }),
      ],
      notes: [`Not one of the issue's figures: it isolates the cost that made wide runs slow, free of the machine's noise (CPU time, not wall time).`],
      raw: { small: { jobs: 10, msPerCommand: round(small.ms) }, mid: { jobs: 500, msPerCommand: round(mid.ms) }, large: { jobs: wide, msPerCommand: round(large.ms), commands: large.commands } },
    };
  },
};
