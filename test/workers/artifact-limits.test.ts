/** Artifact counts are limited per job attempt (issue 18 item 4): 413 that says the limit, and no bytes kept past it. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { job, sha256 } from "./agent-client.ts";
import { api } from "./api-client.ts";
import { agentWith, claimNext } from "./run-helpers.ts";
import { MAX_ARTIFACTS_PER_JOB } from "../../platform/artifacts.ts";

describe("artifact limits", () => {
  it(`refuses artifact number ${MAX_ARTIFACTS_PER_JOB + 1} of a job with 413 too_many_artifacts, and deletes its bytes`, async () => {
    await api("POST", "/api/v1/projects", { body: { slug: "many-artifacts" } });
    const text = "name: build\njobs:\n  work:\n    runs-on: [many-artifacts]\n    steps:\n      - run: echo hi\n";
    await api("PUT", "/api/v1/projects/many-artifacts/pipelines/build", { raw: text, headers: { "content-type": "text/plain" } });
    const agent = await agentWith("many-artifacts");
    const run = (await api("POST", "/api/v1/projects/many-artifacts/pipelines/build/runs", { body: {} })).json as { id: string };
    const claimed = await claimNext(agent.token);
    const j = job(claimed.token, claimed.job.attemptId);
    const bytes = new TextEncoder().encode("x");
    const digest = await sha256(bytes);
    for (let i = 0; i < MAX_ARTIFACTS_PER_JOB; i += 50) {
      const statuses = await Promise.all(Array.from({ length: 50 }, (_, k) => j.artifact(`f/${i + k}.txt`, bytes, digest).then((r) => r.status)));
      expect(statuses.every((s) => s === 201)).toBe(true);
    }
    const over = await j.artifact("f/one-too-many.txt", bytes, digest);
    expect(over.status).toBe(413);
    expect(over.json.error).toMatchObject({ code: "too_many_artifacts", message: expect.stringContaining(`at most ${MAX_ARTIFACTS_PER_JOB} artifacts`) });
    expect(await env.ARTIFACTS.head(`artifacts/${run.id}/${claimed.job.attemptId}/f/one-too-many.txt`)).toBeNull();
  }, 120_000);
});
