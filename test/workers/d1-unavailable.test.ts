// When D1 itself fails, a read that needs it answers 503 with Retry-After (retry later), never a
// 500; a single run, read from its RunObject, keeps working.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";

afterEach(async () => {
  await env.DB.exec("ALTER TABLE runs_offline RENAME TO runs").catch(() => undefined);
});

describe("D1 unavailable", () => {
  it("listing runs answers 503 with Retry-After while the runs table is gone; the run itself still reads", async () => {
    await projectWithPipeline("d1-down");
    const run = (await api("POST", "/api/v1/projects/d1-down/pipelines/build/runs")).json;
    await env.DB.exec("ALTER TABLE runs RENAME TO runs_offline");
    const listed = await api("GET", "/api/v1/runs");
    expect(listed.status).toBe(503);
    expect(listed.headers.get("retry-after")).toBe("5");
    expect(listed.json.error.code).toBe("storage_unavailable");
    expect((await api("GET", `/api/v1/runs/${run.id}`)).status).toBe(200);
    await env.DB.exec("ALTER TABLE runs_offline RENAME TO runs");
    expect((await api("GET", "/api/v1/runs")).status).toBe(200);
  });
});
