/**
 * Revoking a registration token stops new registrations, not the agents already registered;
 * revoking an agent refuses its next call (401) and cancels the job it is running.
 */
import { describe, expect, it } from "vitest";
import { claim, job, registerAgent } from "./agent-client.ts";
import { api, projectWithPipeline } from "./api-client.ts";

const heartbeat = (agentToken: string) => api("POST", "/api/agent/v1/heartbeat", { token: agentToken, body: { jobs: [] } });

describe("revocation", () => {
  it("a revoked registration token registers no new agent; agents registered with it keep working", async () => {
    const registration = (await api("POST", "/api/v1/agent-tokens", { body: { name: "fleet" } })).json;
    const agent = await registerAgent("before-revoke", ["fleet"], registration.token);
    const revoked = await api("DELETE", `/api/v1/agent-tokens/${registration.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.json.revokedAt).not.toBeNull();

    const refused = await api("POST", "/api/agent/v1/register", { token: registration.token, body: { name: "after-revoke", labels: ["fleet"], version: "test" } });
    expect(refused.status).toBe(401);
    expect(refused.json.error.code).toBe("registration_token_revoked");

    expect((await heartbeat(agent.token)).status).toBe(200);
    expect((await claim(agent.token)).status).toBe(204);
  });

  it("a revoked agent's next call is refused with 401, and the job it was running is cancelled", async () => {
    await projectWithPipeline("revoke-agent", "name: build\njobs:\n  work:\n    runs-on: [revoke-me]\n    steps:\n      - run: sleep 100\n");
    const run = (await api("POST", "/api/v1/projects/revoke-agent/pipelines/build/runs", { body: {} })).json;
    const agent = await registerAgent("doomed", ["revoke-me"]);
    const assignment = (await claim(agent.token)).json;
    expect(assignment.run.id).toBe(run.id);
    const running = job(assignment.token, assignment.job.attemptId);
    expect((await running.heartbeat()).json).toEqual({ cancel: false });

    const revoked = await api("DELETE", `/api/v1/agents/${agent.agentId}`);
    expect(revoked.status).toBe(200);

    const next = await heartbeat(agent.token);
    expect(next.status).toBe(401);
    expect(next.json.error.code).toBe("agent_revoked");
    expect((await claim(agent.token)).status).toBe(401);
    expect((await running.heartbeat()).json).toEqual({ cancel: true });
    const listed = (await api("GET", "/api/v1/agents")).json.items.find((a: any) => a.id === agent.agentId);
    expect(listed.state).toBe("revoked");
    expect((await api("DELETE", "/api/v1/agents/01900000-0000-7000-8000-00000000dead")).status).toBe(404);
  });
});
