/**
 * Queues (issue 14): the registry's routes, `queue:` checked at upload (400) and at trigger (403),
 * registration tokens of a queue, agents that claim only from theirs, metrics, and deletion.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { exports } from "cloudflare:workers";
import type { QueueLiveEvent } from "../../domain/live.ts";
import { claim, registerAgent } from "./agent-client.ts";
import { ADMIN, api } from "./api-client.ts";
import { openLive } from "./live-helpers.ts";

const pipeline = (queueLine: string, label: string) =>
  `name: build\n${queueLine}jobs:\n  work:\n    runs-on: [${label}]\n    steps:\n      - run: echo hi\n`;
const upload = (project: string, text: string) =>
  api("PUT", `/api/v1/projects/${project}/pipelines/build`, { raw: text, headers: { "content-type": "text/plain" } });
const trigger = (project: string) => api("POST", `/api/v1/projects/${project}/pipelines/build/runs`, { body: {} });

async function agentOf(queue: string, name: string, labels: string[]) {
  const registration = await api("POST", "/api/v1/agent-tokens", { body: { name, queue } });
  expect(registration.status).toBe(201);
  expect(registration.json.queue).toBe(queue);
  return { ...(await registerAgent(name, labels, registration.json.token)), registrationToken: registration.json.token as string };
}

describe("queue registry", () => {
  it("creates, lists, reads, changes and deletes queues; `default` always exists and stays open", async () => {
    const listed = (await api("GET", "/api/v1/queues")).json.items;
    expect(listed).toEqual([expect.objectContaining({ name: "default", projects: null })]);

    const created = await api("POST", "/api/v1/queues", { body: { name: "gpu", projects: ["alpha"], description: "GPUs" } });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ name: "gpu", projects: ["alpha"], description: "GPUs" });
    expect((await api("POST", "/api/v1/queues", { body: { name: "gpu" } })).json.error.code).toBe("queue_exists");
    const bad = await api("POST", "/api/v1/queues", { body: { name: "Has.Dots" } });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain("queue name is 1–63 lowercase");
    expect((await api("GET", "/api/v1/queues/gpu")).json.projects).toEqual(["alpha"]);
    expect((await api("GET", "/api/v1/queues/nope")).status).toBe(404);

    const patched = await api("PATCH", "/api/v1/queues/gpu", { body: { projects: null } });
    expect(patched.status).toBe(200);
    expect(patched.json.projects).toBeNull();
    const narrowDefault = await api("PATCH", "/api/v1/queues/default", { body: { projects: ["alpha"] } });
    expect(narrowDefault.status).toBe(400);
    expect(narrowDefault.json.error.code).toBe("default_queue_is_open");
    expect((await api("DELETE", "/api/v1/queues/default")).status).toBe(409);

    expect((await api("DELETE", "/api/v1/queues/gpu")).status).toBe(200);
    expect((await api("GET", "/api/v1/queues/gpu")).status).toBe(404);
    expect((await api("DELETE", "/api/v1/queues/gpu")).status).toBe(404);
  });
});

describe("queue rules", () => {
  it("a restricted queue: upload 400 for another project, trigger 403 after the list changed, jobs only to its agents", async () => {
    for (const slug of ["alpha", "beta"]) expect((await api("POST", "/api/v1/projects", { body: { slug } })).status).toBe(201);
    expect((await api("POST", "/api/v1/queues", { body: { name: "secure", projects: ["alpha"] } })).status).toBe(201);

    // Upload: the queue must exist and allow the project; the problem says where.
    const refused = await upload("beta", pipeline("queue: secure\n", "linux"));
    expect(refused.status).toBe(400);
    expect(refused.json.error.message).toContain("queue 'secure' does not allow project 'beta'");
    expect(refused.json.error.details.problems[0]).toMatchObject({ line: 2, column: 8, path: ["queue"] });
    const unknown = await upload("alpha", pipeline("", "linux").replace("    runs-on", "    queue: nowhere\n    runs-on"));
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.message).toContain("queue 'nowhere' does not exist");
    expect((await upload("alpha", pipeline("queue: secure\n", "linux"))).status).toBe(201);
    expect((await upload("beta", pipeline("", "linux"))).status).toBe(201);

    // Registration tokens belong to a queue; an unknown one is refused.
    const badToken = await api("POST", "/api/v1/agent-tokens", { body: { queue: "nowhere" } });
    expect(badToken.status).toBe(400);
    expect(badToken.json.error.code).toBe("unknown_queue");
    const secureAgent = await agentOf("secure", "secure-agent", ["linux"]);
    const defaultAgent = await agentOf("default", "default-agent", ["linux"]);
    expect(secureAgent.token.startsWith("yma.secure.")).toBe(true);

    // alpha's job waits in `secure`: the default agent never sees it; the secure agent gets it.
    const alphaRun = await trigger("alpha");
    expect(alphaRun.status).toBe(201);
    expect(alphaRun.json.attempts[0].jobs[0].queue).toBe("secure");
    const metrics = (await api("GET", "/api/v1/queues/secure/metrics")).json;
    expect(metrics).toMatchObject({ waiting: 1, running: 0, agents: { idle: 1, busy: 0 } });
    expect(metrics.oldestWaitSeconds).toBeGreaterThanOrEqual(0);
    expect((await claim(defaultAgent.token)).status).toBe(204);
    const queueView = (await api("GET", "/api/v1/queue?queue=secure")).json;
    expect(queueView.pending.map((e: any) => [e.queue, e.project])).toEqual([["secure", "alpha"]]);
    const given = await claim(secureAgent.token);
    expect(given.status).toBe(200);
    expect(given.json.run.id).toBe(alphaRun.json.id);
    expect((await api("GET", "/api/v1/queues/secure/metrics")).json).toMatchObject({ waiting: 0, running: 1, agents: { idle: 0, busy: 1 } });
    // A queue holding a job is not deleted.
    const busy = await api("DELETE", "/api/v1/queues/secure");
    expect(busy.status).toBe(409);
    expect(busy.json.error.code).toBe("queue_not_empty");

    // beta's default-queue job never reaches the secure agent.
    expect((await trigger("beta")).status).toBe(201);
    expect((await claim(secureAgent.token)).status).toBe(204);
    expect((await claim(defaultAgent.token)).status).toBe(200);

    // Agents of every queue are listed, with their queue, and filter by queue.
    const agents = (await api("GET", "/api/v1/agents")).json.items;
    expect(agents.map((a: any) => [a.name, a.queue]).sort()).toEqual([
      ["default-agent", "default"],
      ["secure-agent", "secure"],
    ]);
    expect((await api("GET", "/api/v1/agents?queue=secure")).json.items.map((a: any) => a.name)).toEqual(["secure-agent"]);
    expect((await api("GET", "/api/v1/agents?queue=nowhere")).status).toBe(404);

    // The list changes: alpha's stored pipeline is refused at its next trigger.
    expect((await api("PATCH", "/api/v1/queues/secure", { body: { projects: ["beta"] } })).status).toBe(200);
    const late = await trigger("alpha");
    expect(late.status).toBe(403);
    expect(late.json.error).toMatchObject({ code: "queue_not_allowed", details: { queue: "secure", project: "alpha" } });

    // Revoking an agent of `secure` reaches `secure`'s dispatcher.
    expect((await api("DELETE", `/api/v1/agents/${secureAgent.agentId}`)).status).toBe(200);
    expect((await claim(secureAgent.token)).json.error.code).toBe("agent_revoked");
  });

  it("deleting a queue leaves its agents listed, with their queue", async () => {
    expect((await api("POST", "/api/v1/queues", { body: { name: "temp" } })).status).toBe(201);
    const agent = await agentOf("temp", "temp-agent", ["linux"]);
    expect((await api("DELETE", "/api/v1/queues/temp")).status).toBe(200);
    const listed = (await api("GET", "/api/v1/agents")).json.items.find((a: any) => a.id === agent.agentId);
    expect(listed).toMatchObject({ queue: "temp", state: "idle" });
    expect((await api("GET", "/api/v1/agents?queue=temp")).json.items.map((a: any) => a.id)).toEqual([agent.agentId]);
    const late = await api("POST", "/api/agent/v1/register", { token: agent.registrationToken, body: { name: "late", labels: ["linux"], version: "test" } });
    expect(late.status).toBe(409);
    expect(late.json.error.code).toBe("queue_deleted");
  });

  it("a queue's dispatcher refuses an agent token of another queue, even one it did not mint itself", async () => {
    const agent = await registerAgent("default-only", ["linux"]);
    const other = env.DISPATCHER.get(env.DISPATCHER.idFromName("elsewhere"));
    const answer = await other.heartbeat(agent.token);
    expect(answer).toMatchObject({ ok: false, error: { status: 401, code: "invalid_agent_token" } });
    const home = env.DISPATCHER.get(env.DISPATCHER.idFromName("default"));
    expect(await home.heartbeat(agent.token)).toMatchObject({ ok: true });
  });

  it("the queue WebSocket follows the queue `?queue=` names, and refuses one that does not exist", async () => {
    expect((await api("POST", "/api/v1/projects", { body: { slug: "gamma" } })).status).toBe(201);
    expect((await api("POST", "/api/v1/queues", { body: { name: "watched" } })).status).toBe(201);
    const upload = await api("PUT", "/api/v1/projects/gamma/pipelines/build", {
      raw: pipeline("queue: watched\n", "linux"),
      headers: { "content-type": "text/plain" },
    });
    expect(upload.status).toBe(201);
    const watched = await openLive<QueueLiveEvent>("/api/v1/queue/live?queue=watched");
    const other = await openLive<QueueLiveEvent>("/api/v1/queue/live");
    await watched.until("a snapshot", () => watched.frames[0]);
    await other.until("a snapshot", () => other.frames[0]);
    expect((await trigger("gamma")).status).toBe(201);
    const enqueued = await watched.until("the enqueue", () => watched.events.find((e) => e.kind === "enqueued"));
    expect(enqueued).toMatchObject({ kind: "enqueued", project: "gamma", entry: { queue: "watched" } });
    expect(other.events.some((e) => e.kind === "enqueued" && e.project === "gamma")).toBe(false);
    watched.ws.close(1000);
    other.ws.close(1000);

    const missing = await exports.default.fetch("http://yardmaster.test/api/v1/queue/live?queue=nowhere", {
      headers: { upgrade: "websocket", authorization: `Bearer ${ADMIN}` },
    });
    expect(missing.status).toBe(404);
  });
});
