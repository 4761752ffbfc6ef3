/**
 * Calls and writes per job: counted, not timed. Three counts come from workerd tests that also
 * assert them — `test/workers/dispatcher-writes.test.ts` (the DispatcherObject's `stats()`:
 * storage rows written, calls from agents and from runs; issue 14.4) and
 * `test/workers/d1-projection-writes.test.ts` (D1 statements a one-step job costs; issue 20) —
 * this benchmark runs those files and records what they printed, so the report's table is
 * regenerated with everything else instead of being copied by hand. Issue 20's agent calls per
 * job it counts itself, at the wire, through the same counting proxy the e2e test uses.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { LOG_DEFAULTS } from "../agent/log-streamer.ts";
import { callsOfOneJob, startCountingProxy } from "../test/e2e/counting-proxy.ts";
import { PER_JOB_COUNTS } from "../test/support/per-job-counts.ts";
import { type Benchmark, figure, ROOT, startAgent, widePipeline, withControlPlane } from "./harness.ts";

const DISPATCHER_TEST = "test/workers/dispatcher-writes.test.ts";
const D1_TEST = "test/workers/d1-projection-writes.test.ts";
/** Measured on c85392f, before last-seen times were kept in memory (bench/improvements.md). */
const BEFORE = { idleRows: 12, agentCalls: 1, runCalls: 2 };

/** Runs the two workerd tests and reads the counts they print. */
function countedByTests() {
  const vitest = spawnSync(join(ROOT, "node_modules/.bin/vitest"), ["run", "--project", "workers", DISPATCHER_TEST, D1_TEST], { cwd: ROOT, encoding: "utf8", env: process.env });
  const out = `${vitest.stdout}\n${vitest.stderr}`;
  if (vitest.status !== 0) throw new Error(`${DISPATCHER_TEST} or ${D1_TEST} failed:\n${out.slice(-4000)}`);
  const idle = out.match(/idle agent, 12 heartbeats over a simulated minute: (\d+) rows written/);
  const job = out.match(/one job: (\{[^\n]*\})/);
  const d1 = out.match(/one-step job, trigger → SUCCESS: (\d+) D1 statements/);
  if (!idle || !job || !d1) throw new Error(`${DISPATCHER_TEST} or ${D1_TEST} did not print its counts:\n${out.slice(-4000)}`);
  return {
    idleRows: Number(idle[1]),
    perJob: JSON.parse(job[1]!) as { agentCalls: number; runCalls: number; rowsWritten: number },
    d1Statements: Number(d1[1]),
  };
}

/** One real agent behind a counting proxy runs a one-step and a three-step job; their calls. */
async function agentCallsPerJob() {
  const pipelines = { one: widePipeline(1, ["counted"], "true"), three: `jobs:\n  only:\n    runs-on: [counted]\n    steps:\n${["a", "b", "c"].map((id) => `      - id: ${id}\n        run: echo ${id}\n`).join("")}` };
  return withControlPlane({ project: "calls", pipelines }, async (cp, { onStop }) => {
    const proxy = await startCountingProxy(cp.url);
    onStop(() => void proxy.close());
    await startAgent({ ...cp, url: proxy.url }, { name: "counted", labels: ["counted"] });
    const one = await callsOfOneJob(cp, proxy, "calls", "one");
    const three = await callsOfOneJob(cp, proxy, "calls", "three");
    const paths = (calls: typeof one) => calls.map((c) => `${c.method} ${c.path.replace(/\/jobs\/[^/]+\//, "/jobs/:attempt/").replace(/\?.*/, "")}`);
    return { one: one.length, three: three.length, onePaths: paths(one), threePaths: paths(three) };
  });
}

export const writes: Benchmark = {
  name: "writes",
  title: "Calls and writes per job",
  async run({ progress }) {
    progress.update("the workerd tests that count", true);
    const { idleRows, perJob, d1Statements } = countedByTests();
    progress.update("agent calls, at the wire", true);
    const calls = await agentCallsPerJob();
    const before = (what: string) => `before round two (bench/improvements.md ${what})`;
    return {
      definition: [
        "Counted, not timed; the baseline is the same count before.",
        "",
        "- **Agent calls per job**: one real agent (the shipped bundle) talks to `wrangler dev` through a counting HTTP proxy",
        "  (`test/e2e/counting-proxy.ts`, the one `test/e2e/agent-calls.test.ts` asserts with). A one-job pipeline whose step is",
        "  `true` runs to SUCCESS; counted: the claim that brought the job and every call naming its job attempt. Before: protocol 1,",
        "  five calls, three in sequence (bench/improvements.md §7).",
        `- **D1 statements per one-step job**: the run's object counts the statements its D1 projection sends; \`${D1_TEST}\``,
        "  runs a one-job run from trigger to SUCCESS in workerd (the coalescing window stretched, so the count does not depend on",
        "  the machine's speed), asserts the target and prints the count; this benchmark runs it and reads it. Before: 19, the same",
        "  flow with a counter patched into the old per-command projection.",
        "- **Dispatcher**: the DispatcherObject counts the storage rows it writes (`SqlStorageCursor.rowsWritten`, exposed by",
        `  \`stats()\`), and the calls it serves from agents and from runs. Measured by \`${DISPATCHER_TEST}\` (workerd, real storage; a`,
        "  simulated clock moves a minute without waiting for it), which also holds them as assertions. Before: c85392f.",
      ].join("\n"),
      limit: [
        `An agent cannot do a job in fewer than two calls: one to be given it and one to say how it ended (its log and outputs ride`,
        `on that one); here ${calls.one} (${calls.onePaths.join(", ")}). A job that logs while it runs adds the calls that carry its log, one per`,
        `chunk the agent flushes (every ${LOG_DEFAULTS.flushIntervalMs} ms or ${LOG_DEFAULTS.flushBytes / 1024} KiB), not one per step.`,
        "D1: a one-step job's run writes its own row when it is created, then its rows in five tables (the run, its attempt, the",
        `job, the job's attempt, the step) once when it ends, one prepared statement per table, 6 in all; ${d1Statements} here. A job longer`,
        "than the projection's 250 ms window adds one batch per window in which it changed.",
        "The dispatcher's run calls are sent through the run's outbox, so a run with many ready jobs sends one enqueue per queue for",
        "neighbouring enqueues. Made-up agent and job tokens cost no dispatcher call at all (refused in the worker by their",
        "MAC). An idle agent's last-seen time is kept in memory and written every 30 s, not at every heartbeat.",
      ].join("\n"),
      figures: [
        figure("writes.agentCallsPerJob", "Agent calls per one-step job (at the wire: the claim and the job's calls)", calls.one, "calls", {
          baseline: { label: before("§7, protocol 1"), value: PER_JOB_COUNTS.agentCalls.before, unit: "calls" },
          target: { op: "<=", value: PER_JOB_COUNTS.agentCalls.target },
        }),
        figure("writes.d1Statements", "D1 statements per one-step job, trigger → SUCCESS", d1Statements, "statements", {
          baseline: { label: before("§8"), value: PER_JOB_COUNTS.d1Statements.before, unit: "statements" },
          target: { op: "<=", value: PER_JOB_COUNTS.d1Statements.target },
        }),
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
      notes: [`A job of three quick steps (\`echo\`): ${calls.three} agent calls (${calls.threePaths.join(", ")}).`],
      raw: { idleRows, perJob, d1Statements, agentCalls: calls, before: { ...BEFORE, perJobCounts: PER_JOB_COUNTS } },
    };
  },
};
