/**
 * The per-token rate limit of the user API and the per-project one of webhooks: past the
 * budget, 429 with Retry-After; other tokens and the agent protocol are not affected.
 */
import { describe, expect, it } from "vitest";
import { RATE_LIMIT, rateLimitKey, retryAfterSeconds, webhookRateLimitKey } from "../../worker/services/rate-limit.ts";
import { registerAgent } from "./agent-client.ts";
import { api } from "./api-client.ts";
import { exhaust } from "./rate-limit-helpers.ts";
import { deliverGithub, githubExamples, projectWithPipelines } from "./webhook-client.ts";

// Spending a budget may first wait for a fresh window (up to 15 s), then makes 600 calls.
describe("rate limits", { timeout: 60_000 }, () => {
  it("answer 429 with Retry-After once a token has spent its budget; other tokens and agents go on", async () => {
    const spent = (await api("POST", "/api/v1/tokens", { body: { name: "busy script", scopes: ["read"] } })).json;
    const other = (await api("POST", "/api/v1/tokens", { body: { name: "calm script", scopes: ["read"] } })).json;
    expect((await api("GET", "/api/v1/projects", { token: spent.token })).status).toBe(200);
    await exhaust(rateLimitKey({ kind: "token", via: "bearer", tokenId: spent.id, name: spent.name, scopes: ["read"], projects: null, owner: null, grants: [{ project: null, scope: "read" }] })!);

    const limited = await api("GET", "/api/v1/projects", { token: spent.token });
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(RATE_LIMIT.periodSeconds);
    expect(limited.json.error).toMatchObject({ code: "rate_limited", details: { limit: RATE_LIMIT.limit, retryAfterSeconds: retryAfter } });
    expect(limited.json.error.message).toContain(`at most ${RATE_LIMIT.limit} requests per ${RATE_LIMIT.periodSeconds} seconds`);

    expect((await api("GET", "/api/v1/projects", { token: other.token })).status).toBe(200);
    const agent = await registerAgent("unthrottled", ["none"]);
    for (let i = 0; i < 5; i++) {
      expect((await api("POST", "/api/agent/v1/heartbeat", { token: agent.token, body: { jobs: [] } })).status).toBe(200);
    }
  });

  it("limits a project's webhooks apart from its API tokens", async () => {
    await projectWithPipelines("flooded", {});
    await exhaust(webhookRateLimitKey("flooded"));
    const answer = await deliverGithub("flooded", "ping", githubExamples("ping")[0]);
    expect(answer.status).toBe(429);
    expect(Number(answer.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await api("GET", "/api/v1/projects/flooded")).status).toBe(200);
  });

  it("says how long is left in the window", () => {
    expect(retryAfterSeconds(120_000, 60)).toBe(60);
    expect(retryAfterSeconds(120_001, 60)).toBe(60);
    expect(retryAfterSeconds(179_500, 60)).toBe(1);
    expect(retryAfterSeconds(150_000, 60)).toBe(30);
  });
});
