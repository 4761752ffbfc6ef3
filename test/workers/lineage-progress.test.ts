// Metrics reported while a step runs (a RUNNING step update with metrics, sent by the agent's
// metrics poller): recorded on the step, a RUNNING OpenLineage event with the metrics so far in
// the `yardmaster` facet, and a `progress` event on the run's live feed — once per change.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, job, registerAgent } from "./agent-client.ts";

describe("metrics while a step runs", () => {
  it("are recorded, become a RUNNING lineage event and a live progress event, once per change", async () => {
    await projectWithPipeline("progress");
    const agent = await registerAgent("progress-agent", ["linux"]);
    const run = (await api("POST", "/api/v1/projects/progress/pipelines/build/runs", { body: {} })).json;
    const assignment = (await claim(agent.token)).json;
    const j = job(assignment.token, assignment.job.attemptId);
    expect((await j.step("install", { attempt: 1, status: "RUNNING" })).status).toBe(200);
    const metrics = [{ name: "rowCount", kind: "counter", value: 1000 }];
    expect((await j.step("install", { attempt: 1, status: "RUNNING", metrics })).status).toBe(200);
    expect((await j.step("install", { attempt: 1, status: "RUNNING", metrics })).status).toBe(200); // unchanged: nothing new
    const more = [{ name: "rowCount", kind: "counter", value: 2500 }];
    expect((await j.step("install", { attempt: 1, status: "RUNNING", metrics: more })).status).toBe(200);

    const view = (await api("GET", `/api/v1/runs/${run.id}`)).json;
    const step = view.attempts[0].jobs[0].attempts[0].steps.find((s: any) => s.id === "install");
    expect(step).toMatchObject({ status: "RUNNING", metrics: more });

    const events = (await api("GET", `/api/v1/runs/${run.id}/lineage`)).json.items.filter((i: any) => i.runId === assignment.job.attemptId);
    expect(events.map((e: any) => e.eventType)).toEqual(["OTHER", "START", "RUNNING", "RUNNING"]);
    expect(events[2].event.run.facets.yardmaster).toMatchObject({ status: "RUNNING", step: "install", metrics: [{ step: "install", ...metrics[0] }] });
    expect(events[3].event.run.facets.yardmaster.metrics).toEqual([{ step: "install", ...more[0] }]);

    await runInDurableObject(env.RUNS.get(env.RUNS.idFromName(run.id)), (_instance, state) => {
      const progress = state.storage.sql
        .exec<{ doc: string }>("SELECT doc FROM live_events WHERE kind = 'progress' ORDER BY seq")
        .toArray()
        .map((r) => JSON.parse(r.doc));
      expect(progress).toHaveLength(2);
      expect(progress[1]).toMatchObject({ kind: "progress", jobKey: "test", jobAttemptId: assignment.job.attemptId, stepId: "install", metrics: more });
    });
  });
});
