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
      // The agent API's per-job budget (docs/limits.md) may answer 429 mid-way, as it would a real
      // agent, which waits and sends again: so does this test.
      const upload = async (name: string): Promise<number> => {
        for (;;) {
          const r = await j.artifact(name, bytes, digest);
          if (r.status !== 429) return r.status;
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      };
      const statuses = await Promise.all(Array.from({ length: 50 }, (_, k) => upload(`f/${i + k}.txt`)));
      expect(statuses.filter((s) => s !== 201)).toEqual([]);
      // The budget's waits make this job last a minute or more: it heartbeats as a real agent's
      // would, or it is declared lost (and every upload after that is 410).
      expect((await j.heartbeat()).status).toBe(200);
    }
    let over = await j.artifact("f/one-too-many.txt", bytes, digest);
    while (over.status === 429) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      over = await j.artifact("f/one-too-many.txt", bytes, digest);
    }
    expect(over.status).toBe(413);
    expect(over.json.error).toMatchObject({ code: "too_many_artifacts", message: expect.stringContaining(`at most ${MAX_ARTIFACTS_PER_JOB} artifacts`) });
    // Each upload has a key of its own (artifacts/<run>/<job attempt>/<upload>/<name>): none of them holds the refused one.
    const keys: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await env.ARTIFACTS.list({ prefix: `artifacts/${run.id}/${claimed.job.attemptId}/`, ...(cursor ? { cursor } : {}) });
      keys.push(...page.objects.map((o) => o.key));
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    expect(keys).toHaveLength(MAX_ARTIFACTS_PER_JOB);
    expect(keys.filter((k) => k.endsWith("/f/one-too-many.txt"))).toEqual([]);
  }, 120_000);
});
