// Issue 13, item 4: webhooks cannot be locked out or replayed. Badly signed deliveries spend a
// budget of their own, not the project's; the delivery log is bounded (refused deliveries
// most tightly); the same signed body starts runs once, whatever X-GitHub-Delivery it carries.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { RATE_LIMIT } from "../../worker/services/rate-limit.ts";
import { DELIVERIES_KEPT, REJECTED_KEPT } from "../../worker/services/webhook-deliveries.ts";
import { deliverGithub, pipelineFile, projectWithPipelines, pushTo, runsOf } from "./webhook-client.ts";

const CI = { ci: pipelineFile("ci", `{ push: { branches: [master] } }`) };

describe("webhook hardening", { timeout: 90_000 }, () => {
  it("a flood of forged deliveries does not lock out the real ones", async () => {
    await projectWithPipelines("flood", CI);
    // Start early in a rate-limit window, so the flood and the real delivery share it.
    const periodMs = RATE_LIMIT.periodSeconds * 1000;
    const left = periodMs - (Date.now() % periodMs);
    if (left < 30_000) await new Promise((r) => setTimeout(r, left + 50));
    let throttled = false;
    for (let sent = 0; sent < RATE_LIMIT.limit + 50 && !throttled; sent += 50) {
      const answers = await Promise.all(Array.from({ length: 50 }, () => deliverGithub("flood", "push", pushTo("master"), { secret: "forged-secret" })));
      expect(answers.every((a) => a.status === 401 || a.status === 429)).toBe(true);
      throttled = answers.some((a) => a.status === 429);
    }
    expect(throttled, "the forged deliveries were never throttled").toBe(true);
    const real = await deliverGithub("flood", "push", pushTo("master"));
    expect(real.status).toBe(200);
    expect(real.json.status).toBe("started");
  });

  it("the same signed body starts runs once, whatever delivery id it carries", async () => {
    await projectWithPipelines("replayed", CI);
    const push = pushTo("master");
    const first = await deliverGithub("replayed", "push", push, { delivery: "id-1" });
    expect(first.json.status).toBe("started");
    const before = (await runsOf("replayed")).length;
    const replay = await deliverGithub("replayed", "push", push, { delivery: "id-2-chosen-by-the-attacker" });
    expect(replay.status).toBe(200);
    expect(replay.json).toMatchObject({ status: "duplicate", runs: first.json.runs });
    expect(await runsOf("replayed")).toHaveLength(before);
  });

  it("keeps the delivery log bounded, refused deliveries most tightly, sparing the rows that guard a replay", async () => {
    const project = await projectWithPipelines("bounded", CI);
    const push = pushTo("master");
    const guarded = await deliverGithub("bounded", "push", push);
    expect(guarded.json.status).toBe("started");
    // A flood recorded after it: more rows than the log keeps, half of them refused.
    const insert = env.DB.prepare(
      `INSERT INTO webhook_deliveries (id, project_id, source, event, status, reason, runs, received_at) VALUES (?, ?, 'github', 'push', ?, 'flood', '[]', ?)`,
    );
    const rows = Array.from({ length: DELIVERIES_KEPT + 200 }, (_, i) =>
      insert.bind(`01ff0000-0000-7000-8000-${String(i).padStart(12, "0")}`, project.id, i % 2 ? "rejected" : "ignored", Date.now()),
    );
    for (let i = 0; i < rows.length; i += 100) await env.DB.batch(rows.slice(i, i + 100));

    // The next write trims, in the same batch.
    expect((await deliverGithub("bounded", "push", pushTo("master"), { secret: "forged-secret" })).status).toBe(401);
    const count = async (where = "") =>
      (await env.DB.prepare(`SELECT count(*) AS n FROM webhook_deliveries WHERE project_id = ? ${where}`).bind(project.id).first<{ n: number }>())!.n;
    expect(await count()).toBeLessThanOrEqual(DELIVERIES_KEPT + 1);
    expect(await count("AND status = 'rejected'")).toBeLessThanOrEqual(REJECTED_KEPT);
    // The real delivery's row is older than all that, yet kept: it still stops a replay.
    expect(await count(`AND id = '${guarded.json.id}'`)).toBe(1);
    const replay = await deliverGithub("bounded", "push", push, { delivery: "a-new-id" });
    expect(replay.json).toMatchObject({ status: "duplicate", runs: guarded.json.runs });
  });
});
