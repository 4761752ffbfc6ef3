// Issue 3's end-to-end proof: the real `wrangler dev` and real agent processes run a pipeline
// of several jobs with needs, parallel steps, outputs passed step→step and job→job, metrics, a
// step that fails once and succeeds on retry, an artifact; a cancel in the middle of a long
// step; and an agent killed with SIGKILL mid-job, whose job is marked lost and retried elsewhere.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "./harness.ts";

let cp: ControlPlane;
const agents: AgentProcess[] = [];

beforeAll(async () => {
  cp = await startControlPlane({ vars: { YM_AGENT_LOST_AFTER_SECONDS: "6", YM_HEARTBEAT_SECONDS: "1" } });
  expect((await cp.api("POST", "/api/v1/projects", { slug: "e2e" })).status).toBe(201);
});
afterAll(async () => {
  await stopAll();
  await cp?.stop();
});

async function storePipeline(name: string, yaml: string) {
  const res = await cp.api("PUT", `/api/v1/projects/e2e/pipelines/${name}`, undefined, { raw: yaml, headers: { "content-type": "text/plain" } });
  expect(res.status, res.text).toBe(201);
}

async function trigger(name: string) {
  const res = await cp.api("POST", `/api/v1/projects/e2e/pipelines/${name}/runs`, { branch: "main" });
  expect(res.status, res.text).toBe(201);
  return res.json.id as string;
}

const getRun = async (id: string) => (await cp.api("GET", `/api/v1/runs/${id}`)).json;

/** What a failing wait prints: the run as the API shows it and the agents' own logs. */
async function explain(id: string): Promise<string> {
  const run = JSON.stringify(await getRun(id), null, 1);
  const log = await fetch(`${cp.url}/api/v1/runs/${id}/jobs/${(await getRun(id)).attempts[0].jobs[0].key}/log`, {
    headers: { authorization: `Bearer ${cp.adminToken}` },
  }).then(async (r) => `${r.status} ${JSON.stringify(await r.text())}`);
  const agentLogs = agents.map((a) => `--- agent ${a.name}\n${a.output().slice(-3000)}`).join("\n");
  return `run: ${run}\nlog: ${log}\n${agentLogs}\n--- wrangler dev\n${cp.output().slice(-3000)}`;
}
const TERMINAL = ["SUCCESS", "WARNING", "FAILED", "KILLED"];
const untilEnded = (id: string, timeoutMs = 60_000) =>
  waitFor(`run ${id} to end`, async () => {
    const run = await getRun(id);
    return TERMINAL.includes(run.status) ? run : null;
  }, { timeoutMs, intervalMs: 250, explain: () => explain(id) });

const CI = `name: ci
jobs:
  build:
    runs-on: [linux]
    outputs: { version: "\${{ steps.version.outputs.version }}" }
    artifacts: [dist/**]
    steps:
      - id: version
        run: |
          echo "version=1.2.3" >> "$YM_OUTPUT"
          echo "files=3" >> "$YM_METRICS"
          echo "compile=1.5s" >> "$YM_METRICS"
          printf '\\033[32mgreen\\033[0m\\n'
      - id: left
        needs: [version]
        run: |
          echo "start=$(date +%s%3N)" >> "$YM_OUTPUT"; sleep 1.5; echo "end=$(date +%s%3N)" >> "$YM_OUTPUT"
      - id: right
        needs: [version]
        run: |
          echo "start=$(date +%s%3N)" >> "$YM_OUTPUT"; sleep 1.5; echo "end=$(date +%s%3N)" >> "$YM_OUTPUT"
      - id: flaky
        needs: [left, right]
        retries: 1
        run: |
          if [ -f .tried ]; then echo "second time lucky"; else touch .tried; echo "first try fails"; exit 3; fi
      - id: package
        needs: [flaky]
        run: |
          echo "packaging \${{ steps.version.outputs.version }}"
          echo "seen=\${{ steps.version.outputs.version }}" >> "$YM_OUTPUT"
          mkdir -p dist && head -c 300000 /dev/urandom > dist/app.bin
  deploy:
    needs: [build]
    runs-on: [linux]
    steps:
      - id: ship
        run: |
          echo "deploying \${{ needs.build.outputs.version }}"
          echo "deployed=\${{ needs.build.outputs.version }}" >> "$YM_OUTPUT"
`;

describe("agents run real pipelines", () => {
  it("runs jobs with needs, parallel steps, outputs, metrics, a retried step and an artifact", async () => {
    agents.push(await startAgent(cp, { name: "alpha", labels: ["linux"] }), await startAgent(cp, { name: "beta", labels: ["linux"] }));
    await storePipeline("ci", CI);
    const id = await trigger("ci");
    const run = await untilEnded(id);
    expect(run.status, JSON.stringify(run, null, 1)).toBe("SUCCESS");

    const [build, deploy] = run.attempts[0].jobs;
    const steps = Object.fromEntries(build.attempts[0].steps.map((s: any) => [s.id, s]));
    // Parallel: left and right overlapped in time.
    const [l, r] = [steps.left.outputs, steps.right.outputs].map((o: any) => ({ start: Number(o.start), end: Number(o.end) }));
    expect(l!.start).toBeLessThan(r!.end);
    expect(r!.start).toBeLessThan(l!.end);
    // Outputs step → step and job → job; metrics.
    expect(steps.package.outputs.seen).toBe("1.2.3");
    expect(build.outputs).toEqual({ version: "1.2.3" });
    expect(deploy.attempts[0].steps[0].outputs).toEqual({ deployed: "1.2.3" });
    expect(steps.version.metrics).toEqual(
      expect.arrayContaining([
        { name: "files", kind: "counter", value: 3 },
        { name: "compile", kind: "duration", value: 1.5 },
      ]),
    );
    // The flaky step: two attempts kept, the first failed with its exit code.
    expect(steps.flaky.attempts.map((a: any) => [a.status, a.exitCode])).toEqual([
      ["FAILED", 3],
      ["SUCCESS", 0],
    ]);
    // The log, with its colours.
    const log = await fetch(`${cp.url}/api/v1/runs/${id}/jobs/build/log`, { headers: { authorization: `Bearer ${cp.adminToken}` } }).then((r) => r.text());
    expect(log).toContain("\x1b[32mgreen\x1b[0m");
    expect(log).toContain("first try fails");
    expect(log).toContain("packaging 1.2.3");
    // The artifact: listed with the agent's SHA-256, and the downloaded bytes match it.
    const artifacts = await waitFor("the artifact in D1", async () => {
      const list = (await cp.api("GET", `/api/v1/artifacts?run=${id}`)).json;
      return list.items.length ? list.items : null;
    });
    expect(artifacts[0]).toMatchObject({ name: "dist/app.bin", size: 300000, job: "build" });
    const download = await fetch(`${cp.url}/api/v1/artifacts/${artifacts[0].id}/download`, { headers: { authorization: `Bearer ${cp.adminToken}` } });
    const bytes = new Uint8Array(await download.arrayBuffer());
    expect(bytes.byteLength).toBe(300000);
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(artifacts[0].sha256);
  });

  it("cancels a job in the middle of a long step: its whole process group is gone, the job KILLED", async () => {
    await storePipeline(
      "long",
      `jobs:
  wait:
    runs-on: [linux]
    steps:
      - id: sleepy
        run: |
          sleep 300 &
          echo "pids $$ $!"
          wait
`,
    );
    const id = await trigger("long");
    const pids = await waitFor("the step's pids in its log", async () => {
      const text = await fetch(`${cp.url}/api/v1/runs/${id}/jobs/wait/log`, { headers: { authorization: `Bearer ${cp.adminToken}` } }).then((r) => r.text());
      // Only a whole line: the live log may end mid-line (the agent's masker holds back a tail
      // that could begin a secret until the next bytes tell), and "pids 91 9" is not a pid.
      const m = /pids (\d+) (\d+)\n/.exec(text);
      return m ? [Number(m[1]), Number(m[2])] : null;
    }, { explain: () => explain(id) });
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(pids.every(alive)).toBe(true);
    expect((await cp.api("POST", `/api/v1/runs/${id}/cancel`)).status).toBe(200);
    const run = await untilEnded(id, 30_000);
    expect(run.status).toBe("KILLED");
    expect(run.attempts[0].jobs[0].attempts[0]).toMatchObject({ status: "KILLED", reason: "cancelled" });
    await waitFor("the step's processes to be gone", () => pids.every((p) => !alive(p)), { timeoutMs: 15_000 });
  });

  it("an agent killed with SIGKILL mid-job: the job is marked lost and retried on another agent", async () => {
    for (const a of agents.splice(0)) {
      a.signal("SIGKILL");
      await a.exited();
    }
    await storePipeline(
      "lost",
      `jobs:
  survive:
    runs-on: [linux, lost-test]
    retries: 1
    steps:
      - run: echo "on $(hostname)"; sleep 3; echo done
`,
    );
    const doomed = await startAgent(cp, { name: "doomed", labels: ["linux", "lost-test"] });
    const id = await trigger("lost");
    await waitFor("the job to run on the doomed agent", async () => (await getRun(id)).attempts[0].jobs[0].attempts[0].agent === "doomed");
    doomed.signal("SIGKILL");
    await doomed.exited();
    const rescuer = await startAgent(cp, { name: "rescuer", labels: ["linux", "lost-test"] });
    agents.push(rescuer);
    const run = await untilEnded(id, 60_000);
    const attempts = run.attempts[0].jobs[0].attempts;
    expect(attempts.map((a: any) => [a.number, a.status, a.reason, a.agent])).toEqual([
      [1, "FAILED", "agent_lost", "doomed"],
      [2, "SUCCESS", null, "rescuer"],
    ]);
    expect(run.status).toBe("SUCCESS");
  });

  it("a frozen agent's late calls are refused once its job was declared lost; it carries on", async () => {
    for (const a of agents.splice(0)) {
      a.signal("SIGKILL");
      await a.exited();
    }
    await storePipeline(
      "frozen",
      `jobs:
  thaw:
    runs-on: [linux, frozen-test]
    retries: 1
    steps:
      - run: echo start; sleep 4; echo "finished on $YM_JOB"
`,
    );
    const frozen = await startAgent(cp, { name: "frozen", labels: ["linux", "frozen-test"] });
    agents.push(frozen);
    const id = await trigger("frozen");
    await waitFor("the job to run on the frozen agent", async () => (await getRun(id)).attempts[0].jobs[0].attempts[0].agent === "frozen", {
      explain: () => explain(id),
    });
    frozen.signal("SIGSTOP"); // the agent and its step stop in their tracks, sockets open
    const lost = await waitFor("the frozen agent's job to be declared lost", async () => {
      const attempts = (await getRun(id)).attempts[0].jobs[0].attempts;
      return attempts[0].reason === "agent_lost" ? attempts : null;
    }, { explain: () => explain(id) });
    expect(lost[1]).toMatchObject({ number: 2, status: "CREATED" });
    const rescuer = await startAgent(cp, { name: "thawed-rescuer", labels: ["linux", "frozen-test"] });
    agents.push(rescuer);
    await waitFor("the retry to run on the rescuer", async () => (await getRun(id)).attempts[0].jobs[0].attempts[1]?.agent === "thawed-rescuer");
    frozen.signal("SIGCONT"); // its step finishes and it reports late
    const run = await untilEnded(id);
    await waitFor("the thawed agent to hear that its job is gone", () => /HTTP 410 job_ended/.test(frozen.output()), {
      timeoutMs: 20_000,
      explain: () => frozen.output().slice(-3000),
    });
    const attempts = run.attempts[0].jobs[0].attempts;
    expect(attempts.map((a: any) => [a.status, a.reason, a.agent])).toEqual([
      ["FAILED", "agent_lost", "frozen"],
      ["SUCCESS", null, "thawed-rescuer"],
    ]);
    // Attempt 1 was not changed by the late calls, and the thawed agent is still alive and claiming.
    expect((await getRun(id)).attempts[0].jobs[0].attempts[0]).toMatchObject({ status: "FAILED", reason: "agent_lost", endedAt: attempts[0].endedAt });
    expect(frozen.process.exitCode).toBeNull();
    await waitFor("the thawed agent to claim again", () => /job_ended[\s\S]*waiting for a job/.test(frozen.output()));
  });
});
