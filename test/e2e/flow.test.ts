// Issue 17 end to end: flow control with the real `wrangler dev` and real agents. Each test
// stores one small pipeline, runs it, and checks what a user relies on: a cleanup job after a
// failure, a branch-only job skipped, a matrix with an exclusion, an approval's input reaching
// the next job, cancel-in-progress in a concurrency group, an exit code outside
// `retries.exit-codes` not retried, and one job of a SUCCESS run re-run with the others kept.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobView, RunView } from "../../domain/views.ts";
import { type AgentProcess, type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "./harness.ts";

let cp: ControlPlane;
let agent: AgentProcess;
const TERMINAL = ["SUCCESS", "WARNING", "FAILED", "KILLED"];

beforeAll(async () => {
  // Heartbeats each second, so a cancelled job's agent hears of it at once.
  cp = await startControlPlane({ vars: { YM_HEARTBEAT_SECONDS: "1" } });
  expect((await cp.api("POST", "/api/v1/projects", { slug: "flow" })).status).toBe(201);
  agent = await startAgent(cp, { name: "flow-agent", labels: ["linux"], concurrency: 2 });
}, 120_000);
afterAll(async () => {
  await stopAll();
  await cp?.stop();
});

async function store(name: string, text: string): Promise<void> {
  const stored = await cp.api("PUT", `/api/v1/projects/flow/pipelines/${name}`, undefined, { raw: text, headers: { "content-type": "text/plain" } });
  expect(stored.status, stored.text).toBeLessThan(300);
}

async function trigger(pipeline: string, body: Record<string, unknown> = {}): Promise<string> {
  const started = await cp.api("POST", `/api/v1/projects/flow/pipelines/${pipeline}/runs`, { branch: "main", ...body });
  expect(started.status, started.text).toBe(201);
  return started.json.id as string;
}

type Run = RunView;

async function runUntil(runId: string, what: string, done: (run: Run) => boolean): Promise<Run> {
  return waitFor(what, async () => {
    const run = (await cp.api("GET", `/api/v1/runs/${runId}`)).json;
    return done(run) ? run : null;
  }, { timeoutMs: 60_000, intervalMs: 200, explain: () => agent.output().slice(-3000) });
}

const ended = (runId: string) => runUntil(runId, `run ${runId} to end`, (run) => TERMINAL.includes(run.status));
const jobOf = (run: Run, key: string): JobView => run.attempts[run.attempt - 1]!.jobs.find((j) => j.key === key)!;

async function logOf(runId: string, job: string): Promise<string> {
  const res = await fetch(`${cp.url}/api/v1/runs/${runId}/jobs/${encodeURIComponent(job)}/log`, { headers: { authorization: `Bearer ${cp.adminToken}` } });
  expect(res.status).toBe(200);
  return res.text();
}

describe("flow control end to end", { timeout: 240_000 }, () => {
  it("a cleanup job (if: failure()) runs after a failure; a branch-only job is skipped", async () => {
    await store(
      "cleanup",
      `name: cleanup
jobs:
  test:
    runs-on: [linux]
    steps: [{ run: "echo failing; exit 1" }]
  cleanup:
    needs: [test]
    if: \${{ failure() }}
    runs-on: [linux]
    steps: [{ run: "echo cleaned up" }]
  release-only:
    if: \${{ run.branch == 'release' }}
    runs-on: [linux]
    steps: [{ run: "echo never" }]
`,
    );
    const runId = await trigger("cleanup");
    const run = await ended(runId);
    expect(run.status).toBe("FAILED");
    expect(jobOf(run, "cleanup").status).toBe("SUCCESS");
    expect(await logOf(runId, "cleanup")).toContain("cleaned up");
    expect(jobOf(run, "release-only").status).toBe("KILLED");
    expect(jobOf(run, "release-only").attempts[0]!.reason).toBe("skipped");
  });

  it("a 2×2 matrix with one exclusion runs 3 jobs, each with its combination", async () => {
    await store(
      "matrix",
      `name: matrix
jobs:
  test:
    matrix: { os: [linux, mac], node: ["20", "22"], exclude: [{ os: mac, node: "20" }] }
    runs-on: [linux]
    steps: [{ run: "echo on \${{ matrix.os }} with node \${{ matrix.node }}" }]
`,
    );
    const runId = await trigger("matrix");
    const run = await ended(runId);
    expect(run.status).toBe("SUCCESS");
    const jobs = run.attempts[0]!.jobs;
    expect(jobs.map((j) => j.matrix)).toEqual([
      { os: "linux", node: "20" },
      { os: "linux", node: "22" },
      { os: "mac", node: "22" },
    ]);
    expect(await logOf(runId, jobs[2]!.key)).toContain("on mac with node 22");
  });

  it("an approval's input, given through the API, reaches the next job", async () => {
    await store(
      "approve",
      `name: approve
jobs:
  approve:
    type: approval
    approval: { prompt: "Ship it?", inputs: { reason: { type: string } } }
  deploy:
    needs: [approve]
    runs-on: [linux]
    steps: [{ run: "echo shipping because \${{ needs.approve.outputs.reason }}" }]
`,
    );
    const runId = await trigger("approve");
    await runUntil(runId, "the approval to wait", (run) => jobOf(run, "approve").waitingOn.join() === "approval");
    const approved = await cp.api("POST", `/api/v1/runs/${runId}/jobs/approve/approve`, { inputs: { reason: "tests are green" } });
    expect(approved.status, approved.text).toBe(200);
    const run = await ended(runId);
    expect(run.status).toBe("SUCCESS");
    expect(await logOf(runId, "deploy")).toContain("shipping because tests are green");
  });

  it("two runs in one group with cancel-in-progress: the older is cancelled (superseded), the newer runs", async () => {
    await store(
      "deploy",
      `name: deploy
params: { seconds: { default: "0" } }
concurrency: { group: "deploy-\${{ run.branch }}", cancel-in-progress: true }
jobs:
  ship:
    runs-on: [linux]
    steps: [{ run: "echo shipping; sleep \${{ params.seconds }}" }]
`,
    );
    const older = await trigger("deploy", { params: { seconds: "120" } });
    await runUntil(older, "the older run to be running", (run) => jobOf(run, "ship").status === "RUNNING");
    const newer = await trigger("deploy");
    const olderRun = await ended(older);
    expect(olderRun.status).toBe("KILLED");
    expect(jobOf(olderRun, "ship").attempts[0]!.reason).toBe("superseded");
    expect(olderRun.attempts[0]!.concurrency?.supersededBy?.runId).toBe(newer);
    const newerRun = await ended(newer);
    expect(newerRun.status).toBe("SUCCESS");
    expect(newerRun.attempts[0]!.concurrency).toMatchObject({ group: "deploy-main", status: "released" });
  });

  it("an exit code outside retries.exit-codes is not retried, and the attempt says why", async () => {
    await store(
      "flaky",
      `name: flaky
jobs:
  flaky:
    runs-on: [linux]
    retries: { limit: 2, exit-codes: [75] }
    steps: [{ run: "exit 3" }]
`,
    );
    const run = await ended(await trigger("flaky"));
    expect(run.status).toBe("FAILED");
    const flaky = jobOf(run, "flaky");
    expect(flaky.attempts).toHaveLength(1);
    expect(flaky.attempts[0]!.retry).toBe("not retried: exit code 3 is not in retries.exit-codes (75)");
  });

  it("one job of a SUCCESS run is re-run; the others carry over with their outputs", async () => {
    await store(
      "rerun",
      `name: rerun
jobs:
  build:
    runs-on: [linux]
    outputs: { version: "\${{ steps.v.outputs.version }}" }
    steps:
      - id: v
        run: echo "version=1.2.3" >> "$YM_OUTPUT"
  publish:
    needs: [build]
    runs-on: [linux]
    steps: [{ run: "echo publishing \${{ needs.build.outputs.version }}" }]
`,
    );
    const runId = await trigger("rerun");
    expect((await ended(runId)).status).toBe("SUCCESS");
    const rerun = await cp.api("POST", `/api/v1/runs/${runId}/rerun`, { jobs: ["publish"] });
    expect(rerun.status, rerun.text).toBe(201);
    const run = await runUntil(runId, "attempt 2 to end", (r) => r.attempt === 2 && TERMINAL.includes(r.status));
    expect(run.status).toBe("SUCCESS");
    expect(run.attempts[1]!.rerunJobs).toEqual(["publish"]);
    const build = jobOf(run, "build");
    expect(build.reused).toMatchObject({ attempt: 1 });
    expect(build.outputs).toEqual({ version: "1.2.3" });
    expect(jobOf(run, "publish").attempts).toHaveLength(1);
    expect(await logOf(runId, "publish")).toContain("publishing 1.2.3");
  });
});
