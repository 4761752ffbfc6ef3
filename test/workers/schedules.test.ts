/**
 * Schedules fired by the Cron Trigger: each due slot starts its pipeline exactly once, a slot
 * missed while the worker was down starts once, late — not once per missed slot — and the run
 * keeps the slot's nominal time.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../worker/index.ts";
import { api } from "./api-client.ts";
import { projectWithPipelines } from "./webhook-client.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

async function tick(at: number) {
  const ctx = createExecutionContext();
  await worker.scheduled!(createScheduledController({ scheduledTime: at, cron: "* * * * *" }), env, ctx);
  await waitOnExecutionContext(ctx);
}

const scheduled = (cron: string, extra = "") => `name: timed
on: { schedule: ["${cron}"] }
${extra}jobs:
  work:
    runs-on: [timer]
    steps:
      - run: echo tick
`;

/** The first slot the scheduler will fire for the project's pipeline `timed`. */
async function nextAt(project: string): Promise<number> {
  const row = await env.DB.prepare(
    "SELECT s.next_at AS nextAt FROM schedules s JOIN pipelines p ON p.id = s.pipeline_id JOIN projects pr ON pr.id = p.project_id WHERE pr.slug = ? AND p.name = 'timed'",
  )
    .bind(project)
    .first<{ nextAt: number }>();
  expect(row!.nextAt).toBeGreaterThan(Date.now() - MINUTE);
  return row!.nextAt;
}

async function runs(project: string) {
  const list = await api("GET", `/api/v1/runs?project=${project}&limit=100`);
  const full = await Promise.all(list.json.items.map((r: any) => api("GET", `/api/v1/runs/${r.id}`)));
  return full.map((r) => r.json).sort((a, b) => a.number - b.number);
}

describe("schedules", () => {
  it("start each due slot once, however many ticks see it, with the slot as the run's nominal time", async () => {
    await projectWithPipelines("every-five", { timed: scheduled("*/5 * * * *") });
    const slot = await nextAt("every-five");
    expect(slot % (5 * MINUTE)).toBe(0);
    await tick(slot - MINUTE);
    expect(await runs("every-five")).toHaveLength(0);

    await tick(slot);
    await tick(slot + 30_000); // a second tick in the same minute
    await Promise.all([tick(slot + 40_000), tick(slot + 40_000)]); // and two at once
    const after = await runs("every-five");
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ pipeline: "timed", trigger: "schedule", nominalTime: new Date(slot).toISOString(), branch: null });
    // The audit log names the schedule as the actor.
    expect((await api("GET", `/api/v1/runs/${after[0].id}`)).json.triggeredBy).toEqual({ kind: "schedule", id: "every-five/timed", name: "schedule of every-five/timed" });

    await tick(slot + 5 * MINUTE);
    expect((await runs("every-five")).map((r) => r.nominalTime)).toEqual([new Date(slot).toISOString(), new Date(slot + 5 * MINUTE).toISOString()]);
  });

  it("start one late run after hours of missed slots, not one per slot", async () => {
    await projectWithPipelines("after-outage", { timed: scheduled("*/10 * * * *") });
    const first = await nextAt("after-outage");
    const back = first + 5 * HOUR + 3 * MINUTE; // the worker was down for five hours
    await tick(back);
    const started = await runs("after-outage");
    expect(started).toHaveLength(1);
    expect(started[0].nominalTime).toBe(new Date(first + 5 * HOUR).toISOString());
    await tick(back + MINUTE);
    expect(await runs("after-outage")).toHaveLength(1);
    await tick(first + 5 * HOUR + 10 * MINUTE);
    expect(await runs("after-outage")).toHaveLength(2);
  });

  it("start a slot whose start died after it was claimed, once, with the id chosen for it", async () => {
    await projectWithPipelines("crashed", { timed: scheduled("0 3 * * *") });
    const pipelineId = (await api("GET", "/api/v1/projects/crashed/pipelines/timed")).json.id;
    const slot = Date.parse("2026-11-20T03:00:00Z");
    const runId = "01900000-0000-7000-8000-0000000000c1";
    await env.DB.prepare("INSERT INTO schedule_slots (pipeline_id, cron, slot, run_id, created_at) VALUES (?, '0 3 * * *', ?, ?, ?)")
      .bind(pipelineId, slot, runId, Date.now() - 10 * MINUTE)
      .run();
    const now = Date.now();
    await tick(now);
    await tick(now + MINUTE);
    const started = await runs("crashed");
    expect(started.map((r) => [r.id, r.nominalTime])).toEqual([[runId, new Date(slot).toISOString()]]);
  });

  it("refuse, up front, a scheduled pipeline with a param that has no default", async () => {
    expect((await api("POST", "/api/v1/projects", { body: { slug: "needs-default" } })).status).toBe(201);
    const refused = await api("PUT", "/api/v1/projects/needs-default/pipelines/timed", {
      raw: scheduled("* * * * *", "params: { target: }\n"),
      headers: { "content-type": "text/plain" },
    });
    expect(refused.status).toBe(400);
    expect(refused.json.error.details.problems[0].message).toContain("param 'target' has no default");
    expect((await api("GET", "/api/v1/projects/needs-default/pipelines")).json.items).toEqual([]);
  });

  it("give up a slot whose run is refused, saying why, and stop when the schedule is removed", async () => {
    // A version stored before scheduled pipelines had to give every param a default: its stored
    // definition has a required param, so each slot's start is refused.
    await projectWithPipelines("refused", { timed: scheduled("* * * * *", "params: { target: prod }\n") });
    const stored = await env.DB.prepare(
      "SELECT v.id, v.definition FROM pipeline_versions v JOIN pipelines p ON p.current_version_id = v.id JOIN projects j ON j.id = p.project_id WHERE j.slug = 'refused'",
    ).first<{ id: string; definition: string }>();
    const definition = JSON.parse(stored!.definition);
    definition.params.target = {};
    await env.DB.prepare("UPDATE pipeline_versions SET definition = ? WHERE id = ?").bind(JSON.stringify(definition), stored!.id).run();
    const slot = await nextAt("refused");
    await tick(slot);
    await tick(slot + 3 * MINUTE + 1); // past the retry delay of pending slots
    expect(await runs("refused")).toHaveLength(0);
    const rows = await env.DB.prepare("SELECT slot, attempts, error, failed_at FROM schedule_slots ORDER BY slot").all<any>();
    const mine = rows.results.filter((r) => r.error?.includes("'target'"));
    expect(mine[0]).toMatchObject({ slot, attempts: 1, error: "pipeline 'timed' needs a value for 'target'" });
    expect(mine[0].failed_at).not.toBeNull();

    const removed = await api("PUT", "/api/v1/projects/refused/pipelines/timed", {
      raw: "name: timed\njobs:\n  work:\n    runs-on: [timer]\n    steps:\n      - run: echo\n",
      headers: { "content-type": "text/plain" },
    });
    expect(removed.status).toBe(201);
    const before = (await env.DB.prepare("SELECT count(*) AS n FROM schedule_slots").first<{ n: number }>())!.n;
    await tick(slot + 10 * MINUTE);
    expect((await env.DB.prepare("SELECT count(*) AS n FROM schedule_slots").first<{ n: number }>())!.n).toBe(before);
  });

  it("refuses a cron that cannot schedule when the pipeline is stored", async () => {
    await api("POST", "/api/v1/projects", { body: { slug: "bad-cron" } });
    const stored = await api("PUT", "/api/v1/projects/bad-cron/pipelines/timed", { raw: scheduled("0 0 31 2 *"), headers: { "content-type": "text/plain" } });
    expect(stored.status).toBe(400);
    expect(stored.json.error.details.problems[0]).toMatchObject({ line: 2, message: expect.stringContaining("would never run") });
  });
});
