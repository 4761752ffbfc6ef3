/**
 * No Durable Object for nobody (issue 13 item 3): agent and job tokens carry a MAC over their
 * routing part, checked in the worker before any object is addressed. A made-up token is refused
 * (401) without creating or waking an object; legacy four-part tokens only reach what existed
 * before the MAC; refused callers spend their IP's rate-limit budget, agents and jobs their own.
 */
import { env } from "cloudflare:workers";
import { listDurableObjectIds } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { randomSecret } from "../../domain/tokens.ts";
import { agentRateLimitKeys } from "../../worker/routes/agent-api.ts";
import { claim, job, registerAgent } from "./agent-client.ts";
import { api, projectWithPipeline } from "./api-client.ts";
import { exhaust } from "./rate-limit-helpers.ts";

const heartbeat = (token: string, headers: Record<string, string> = {}) =>
  api("POST", "/api/agent/v1/heartbeat", { token, body: { jobs: [] }, headers });
const jobHeartbeat = (token: string, jobAttemptId: string) => api("POST", `/api/agent/v1/jobs/${jobAttemptId}/heartbeat`, { token });
const uuid = () => crypto.randomUUID();
/** A MAC-shaped part: 16 random bytes, base64url. */
const fakeMac = () => randomSecret(16);

async function objectIds(): Promise<string[]> {
  const ids = [...(await listDurableObjectIds(env.DISPATCHER)), ...(await listDurableObjectIds(env.RUNS))];
  return ids.map((id) => id.toString()).sort();
}

describe("token MAC", () => {
  it("refuses made-up agent and job tokens with 401 and creates or wakes no object", async () => {
    const agent = await registerAgent("genuine", ["linux"]);
    const [, , agentId, mac, secret] = agent.token.split(".");
    const before = await objectIds();

    const forgedAgent = [
      `yma.q-forged.${uuid()}.${fakeMac()}.${randomSecret()}`, // a new queue, a made-up MAC
      `yma.q-legacy.${uuid()}.${randomSecret()}`, // legacy shape, a queue that never had legacy tokens
      `yma.other-queue.${agentId}.${mac}.${secret}`, // a real token moved to another queue
      `yma.default.${uuid()}.${mac}.${secret}`, // a real MAC on another agent id
    ];
    for (const token of forgedAgent) {
      const answer = await heartbeat(token);
      expect(answer.status, token).toBe(401);
      expect(answer.json.error.code).toBe("invalid_agent_token");
      expect((await claim(token)).status).toBe(401);
    }
    const jobAttemptId = uuid();
    const forgedJob = [
      `ymj.${uuid()}.${jobAttemptId}.${fakeMac()}.${randomSecret()}`,
      `ymj.${uuid()}.${jobAttemptId}.${randomSecret()}`, // legacy shape, a run D1 does not know
    ];
    for (const token of forgedJob) {
      const answer = await jobHeartbeat(token, jobAttemptId);
      expect(answer.status, token).toBe(401);
      expect(answer.json.error.code).toBe("invalid_job_token");
    }
    expect(await objectIds()).toEqual(before);
  });

  it("accepts legacy tokens only where they existed: agent tokens of `default`, job tokens of a known run", async () => {
    await projectWithPipeline("legacy-tokens");
    const run = (await api("POST", "/api/v1/projects/legacy-tokens/pipelines/build/runs", { body: {} })).json;
    const agent = await registerAgent("legacy", ["linux"]);
    // Past the door, the object checks the secret: a legacy-shaped token with a wrong one is
    // the object's refusal (its own message), not the door's.
    const legacyAgent = await heartbeat(`yma.default.${agent.agentId}.${randomSecret()}`);
    expect(legacyAgent.status).toBe(401);
    expect(legacyAgent.json.error.message).toContain("unknown to this queue");
    const jobAttemptId = run.attempts[0].jobs[0].attempts[0].id;
    const legacyJob = await jobHeartbeat(`ymj.${run.id}.${jobAttemptId}.${randomSecret()}`, jobAttemptId);
    expect(legacyJob.status).toBe(401);
    expect(legacyJob.json.error.message).not.toContain("not one this server issued");
  });
});

describe("agent API rate limit", { timeout: 90_000 }, () => {
  it("429 with Retry-After for an IP past its budget of refused tokens; a real agent from it goes on", async () => {
    const ip = "203.0.113.9";
    const agent = await registerAgent("same-ip", ["linux"]);
    await exhaust(agentRateLimitKeys.ip(ip));
    const limited = await heartbeat(`yma.q-x.${uuid()}.${fakeMac()}.${randomSecret()}`, { "cf-connecting-ip": ip });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(limited.json.error.code).toBe("rate_limited");
    expect((await heartbeat(agent.token, { "cf-connecting-ip": ip })).status).toBe(200);
  });

  it("429 for an agent past its own budget; other agents go on", async () => {
    const busy = await registerAgent("chatty", ["linux"]);
    const calm = await registerAgent("calm", ["linux"]);
    await exhaust(agentRateLimitKeys.agent(busy.agentId));
    const limited = await heartbeat(busy.token);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).not.toBeNull();
    expect((await heartbeat(calm.token)).status).toBe(200);
  });

  it("a job's logs past their budget get 429; its heartbeats, on their own budget, go on", async () => {
    await projectWithPipeline("chatty-job");
    const agent = await registerAgent("log-heavy", ["linux"]);
    expect((await api("POST", "/api/v1/projects/chatty-job/pipelines/build/runs", { body: {} })).status).toBe(201);
    const given = (await claim(agent.token)).json;
    const running = job(given.token, given.job.attemptId);
    await exhaust(agentRateLimitKeys.jobData(given.job.attemptId));
    const limited = await running.log(0, 0, new TextEncoder().encode("line\n"));
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).not.toBeNull();
    expect((await running.heartbeat()).json).toEqual({ cancel: false });
  });
});
