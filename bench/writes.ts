/**
 * Dispatcher writes and requests per job (issue 14.4): counted, not timed. The counts come from
 * `test/workers/dispatcher-writes.test.ts`, which drives a real DispatcherObject in workerd (its
 * `stats()`: storage rows written, calls from agents and from runs) and asserts them; this
 * benchmark runs that file and records what it printed, so the report's table is regenerated
 * with everything else instead of being copied by hand.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { type Benchmark, figure, ROOT } from "./harness.ts";

const TEST = "test/workers/dispatcher-writes.test.ts";
/** Measured on c85392f, before last-seen times were kept in memory (bench/improvements.md). */
const BEFORE = { idleRows: 12, agentCalls: 1, runCalls: 2 };

export const writes: Benchmark = {
  name: "writes",
  title: "Dispatcher writes and requests per job",
  async run() {
    const vitest = spawnSync(join(ROOT, "node_modules/.bin/vitest"), ["run", "--project", "workers", TEST], { cwd: ROOT, encoding: "utf8", env: process.env });
    const out = `${vitest.stdout}\n${vitest.stderr}`;
    if (vitest.status !== 0) throw new Error(`${TEST} failed:\n${out.slice(-4000)}`);
    const idle = out.match(/idle agent, 12 heartbeats over a simulated minute: (\d+) rows written/);
    const job = out.match(/one job: (\{[^\n]*\})/);
    if (!idle || !job) throw new Error(`${TEST} did not print its counts:\n${out.slice(-4000)}`);
    const idleRows = Number(idle[1]);
    const perJob = JSON.parse(job[1]!) as { agentCalls: number; runCalls: number; rowsWritten: number };
    return {
      definition: [
        "Counted, not timed: the DispatcherObject counts the storage rows it writes (`SqlStorageCursor.rowsWritten`, exposed by",
        `\`stats()\`), and the calls it serves from agents and from runs. Measured by \`${TEST}\` (workerd, real storage; a`,
        "simulated clock moves a minute without waiting for it), which also holds them as assertions; this benchmark runs it and",
        "reads the counts it prints. The baseline is the same count before (c85392f).",
      ].join("\n"),
      limit: [
        "The run calls are sent through the run's outbox, so a run with many ready jobs sends one enqueue per queue for",
        "neighbouring enqueues. Made-up agent and job tokens cost no dispatcher call at all (refused in the worker by their",
        "MAC). An idle agent's last-seen time is kept in memory and written every 30 s, not at every heartbeat.",
      ].join("\n"),
      figures: [
        figure("writes.idle", "Storage rows written by an idle agent heartbeating every 5 s for one minute", idleRows, "rows", {
          baseline: { label: "before (c85392f): a write per heartbeat", value: BEFORE.idleRows, unit: "rows" },
        }),
        figure("writes.agentCalls", "Dispatcher calls per job, from the agent (the claim; heartbeats are per agent)", perJob.agentCalls, "calls", {
          baseline: { label: "before (c85392f)", value: BEFORE.agentCalls, unit: "calls" },
        }),
        figure("writes.runCalls", "Dispatcher calls per job, from its run (enqueue, release)", perJob.runCalls, "calls", {
          baseline: { label: "before (c85392f)", value: BEFORE.runCalls, unit: "calls" },
        }),
        figure("writes.rows", "Storage rows written per job (enqueue, claim, release, with the live queue feed's events)", perJob.rowsWritten, "rows"),
      ],
      notes: [],
      raw: { idleRows, perJob, before: BEFORE },
    };
  },
};
