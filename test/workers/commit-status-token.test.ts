/**
 * The project's GITHUB_TOKEN, taken into a run for its commit statuses, never reaches a job:
 * not in the assignment, not in its mask (docs/triggers.md, "Commit statuses").
 */
import { describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, registerAgent } from "./agent-client.ts";

const TOKEN = "ghp_neverInAJob0123456789";

describe("the commit-status token", () => {
  it("is not in the job assignment of a project that reports statuses", async () => {
    await projectWithPipeline("status-token", "jobs:\n  build:\n    runs-on: [status-token]\n    steps:\n      - run: env\n");
    expect((await api("PATCH", "/api/v1/projects/status-token", { body: { statuses: { github: "acme/api" } } })).status).toBe(200);
    expect((await api("PUT", "/api/v1/projects/status-token/secrets/GITHUB_TOKEN", { body: { value: TOKEN } })).status).toBe(201);
    const agent = await registerAgent("status-token-agent", ["status-token"]);
    // A branch, not a SHA: nothing is sent to GitHub from this test.
    const run = await api("POST", "/api/v1/projects/status-token/pipelines/build/runs", { body: { branch: "main" } });
    expect(run.status).toBe(201);
    const assignment = await claim(agent.token, 10);
    expect(assignment.status).toBe(200);
    expect(assignment.text).not.toContain(TOKEN);
    expect(assignment.json.mask).toEqual([]);
  });
});
