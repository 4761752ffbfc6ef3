// Issue 14's end-to-end proof: the real `wrangler dev` and real agent processes, two queues.
// `secure` allows project alpha only: alpha's job on it runs on the `secure` agent; beta can
// neither store a pipeline naming it (400) nor, once the list changes, trigger one (403); and
// default-queue jobs never reach the `secure` agent, even when it is the only idle one.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "./harness.ts";

let cp: ControlPlane;
const agents: AgentProcess[] = [];

beforeAll(async () => {
  cp = await startControlPlane({ vars: { YM_HEARTBEAT_SECONDS: "1" } });
  for (const slug of ["alpha", "beta"]) expect((await cp.api("POST", "/api/v1/projects", { slug })).status).toBe(201);
  const created = await cp.api("POST", "/api/v1/queues", { name: "secure", projects: ["alpha"], description: "alpha's own machines" });
  expect(created.status, created.text).toBe(201);
  const registration = await cp.api("POST", "/api/v1/agent-tokens", { name: "secure fleet", queue: "secure" });
  expect(registration.status, registration.text).toBe(201);
  // Both agents carry the same labels: only the queue keeps them apart.
  agents.push(await startAgent(cp, { name: "secure-agent", labels: ["linux"], registrationToken: registration.json.token }));
  agents.push(await startAgent(cp, { name: "default-agent", labels: ["linux"] }));
  await waitFor("both agents to register", async () => {
    const items = (await cp.api("GET", "/api/v1/agents")).json.items as { name: string; queue: string; state: string }[];
    return items.length === 2 && items.every((a) => a.state === "idle") ? items : null;
  }, { timeoutMs: 60_000, intervalMs: 250, explain: async () => agents.map((a) => `--- ${a.name}\n${a.output().slice(-2000)}`).join("\n") });
});
afterAll(async () => {
  await stopAll();
  await cp?.stop();
});

const pipeline = (queueLine: string) => `name: build
${queueLine}jobs:
  work:
    runs-on: [linux]
    steps:
      - run: echo "on $(hostname)"
`;

async function store(project: string, text: string) {
  return cp.api("PUT", `/api/v1/projects/${project}/pipelines/build`, undefined, { raw: text, headers: { "content-type": "text/plain" } });
}

async function runToEnd(project: string): Promise<{ status: string; agent: string | null }> {
  const started = await cp.api("POST", `/api/v1/projects/${project}/pipelines/build/runs`, {});
  expect(started.status, started.text).toBe(201);
  const run = await waitFor(`run of ${project} to end`, async () => {
    const view = (await cp.api("GET", `/api/v1/runs/${started.json.id}`)).json;
    return ["SUCCESS", "WARNING", "FAILED", "KILLED"].includes(view.status) ? view : null;
  }, { timeoutMs: 60_000, intervalMs: 250, explain: async () => agents.map((a) => `--- ${a.name}\n${a.output().slice(-2000)}`).join("\n") });
  const attempt = run.attempts[0].jobs[0].attempts[0];
  return { status: run.status, agent: attempt.agent };
}

describe("queues end to end", { timeout: 180_000 }, () => {
  it("agents register into their token's queue", async () => {
    const items = (await cp.api("GET", "/api/v1/agents")).json.items as { name: string; queue: string }[];
    expect(items.map((a) => [a.name, a.queue]).sort()).toEqual([
      ["default-agent", "default"],
      ["secure-agent", "secure"],
    ]);
    expect((await cp.api("GET", "/api/v1/agents?queue=secure")).json.items.map((a: { name: string }) => a.name)).toEqual(["secure-agent"]);
  });

  it("alpha's job on `secure` runs on the secure agent", async () => {
    expect((await store("alpha", pipeline("queue: secure\n"))).status).toBe(201);
    for (let i = 0; i < 3; i++) expect(await runToEnd("alpha")).toEqual({ status: "SUCCESS", agent: "secure-agent" });
  });

  it("beta cannot store a pipeline naming `secure` (400, naming the queue and the project)", async () => {
    const refused = await store("beta", pipeline("queue: secure\n"));
    expect(refused.status).toBe(400);
    expect(refused.json.error.message).toContain("queue 'secure' does not allow project 'beta'");
  });

  it("default-queue jobs never reach the secure agent", async () => {
    expect((await store("beta", pipeline(""))).status).toBe(201);
    for (let i = 0; i < 4; i++) expect(await runToEnd("beta")).toEqual({ status: "SUCCESS", agent: "default-agent" });
    // With the default agent stopped, a default-queue job waits rather than go to the idle secure agent.
    const defaultAgent = agents.find((a) => a.name === "default-agent")!;
    defaultAgent.signal("SIGTERM");
    await defaultAgent.exited();
    const started = await cp.api("POST", "/api/v1/projects/beta/pipelines/build/runs", {});
    expect(started.status).toBe(201);
    await waitFor("the job to be queued in default", async () => {
      const metrics = (await cp.api("GET", "/api/v1/queues/default/metrics")).json;
      return metrics.waiting === 1 ? metrics : null;
    }, { timeoutMs: 20_000, intervalMs: 250 });
    // The secure agent claims (long-polls) several times meanwhile; the job stays queued.
    await new Promise((r) => setTimeout(r, 3_000));
    const run = (await cp.api("GET", `/api/v1/runs/${started.json.id}`)).json;
    expect(run.attempts[0].jobs[0].attempts[0].agent).toBeNull();
    expect((await cp.api("GET", "/api/v1/queues/secure/metrics")).json).toMatchObject({ waiting: 0, running: 0, agents: { idle: 1, busy: 0 } });
    expect((await cp.api("POST", `/api/v1/runs/${started.json.id}/cancel`, {})).status).toBe(200);
  });

  it("once `secure` no longer allows alpha, alpha's stored pipeline is refused at trigger (403)", async () => {
    expect((await cp.api("PATCH", "/api/v1/queues/secure", { projects: ["beta"] })).status).toBe(200);
    const refused = await cp.api("POST", "/api/v1/projects/alpha/pipelines/build/runs", {});
    expect(refused.status).toBe(403);
    expect(refused.json.error).toMatchObject({ code: "queue_not_allowed", details: { queue: "secure", project: "alpha" } });
  });
});
