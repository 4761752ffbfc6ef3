// Dataset triggers from Yardmaster's own jobs, through the real worker, RunObjects and D1: a
// job's COMPLETE with `lineage` outputs starts the pipelines whose `on: dataset` match, with no
// HTTP round trip; the started run's lineage events name the upstream run in their `parent`
// facet; a chain that comes back to a pipeline already in it is stopped and says so.
import { describe, expect, it, vi } from "vitest";
import { MAX_CHAIN_DEPTH } from "../../domain/triggers/dataset.ts";
import { api } from "./api-client.ts";
import { claim, job, registerAgent } from "./agent-client.ts";

const file = (o: { name: string; label: string; outputs?: string; on?: string }) => `name: ${o.name}
${o.on ? `on:\n  dataset:\n${o.on}\n` : ""}jobs:
  write:
    runs-on: [${o.label}]
${o.outputs ? `    lineage:\n      outputs:\n${o.outputs}\n` : ""}    steps:
      - id: s
        run: echo hi
`;

async function project(slug: string, pipelines: Record<string, string>) {
  expect((await api("POST", "/api/v1/projects", { body: { slug } })).status).toBe(201);
  for (const [name, text] of Object.entries(pipelines)) {
    const stored = await api("PUT", `/api/v1/projects/${slug}/pipelines/${name}`, { raw: text, headers: { "content-type": "text/plain" } });
    expect(stored.status, stored.text).toBe(201);
  }
}

/** Claims the one queued job for `label` and runs it to SUCCESS; answers its attempt id. */
async function runQueuedJob(label: string): Promise<{ runId: string; jobAttemptId: string }> {
  const agent = await registerAgent(`agent-${label}-${crypto.randomUUID().slice(0, 8)}`, [label]);
  const assignment = (await claim(agent.token)).json;
  expect(assignment?.job, JSON.stringify(assignment)).toBeDefined();
  const j = job(assignment.token, assignment.job.attemptId);
  expect((await j.step("s", { attempt: 1, status: "RUNNING" })).status).toBe(200);
  expect((await j.step("s", { attempt: 1, status: "SUCCESS", exitCode: 0 })).status).toBe(200);
  expect((await j.finish({ status: "SUCCESS" })).status).toBe(200);
  return { runId: assignment.run.id, jobAttemptId: assignment.job.attemptId };
}

/** The dataset triggers a run's jobs fired, once the run's outbox has delivered them. */
async function firedBy(runId: string, count = 1) {
  return vi.waitFor(
    async () => {
      const items = (await api("GET", `/api/v1/lineage/triggers?run=${runId}`)).json.items.filter((i: any) => i.upstream.ymRunId === runId);
      if (items.length < count) throw new Error(`${items.length} triggers so far`);
      return items;
    },
    { timeout: 10_000, interval: 50 },
  );
}

describe("a Yardmaster job's lineage outputs", () => {
  it("start the pipelines whose on: dataset match, with the params and the parent facet", async () => {
    await project("chain-ok", {
      produce: file({ name: "produce", label: "prod-ok", outputs: `        - namespace: s3://lake\n          name: daily/2026-12-05` }),
      consume: file({ name: "consume", label: "cons-ok", on: `    - namespace: s3://lake\n      name: "daily/*"` }),
    });
    const upstream = (await api("POST", "/api/v1/projects/chain-ok/pipelines/produce/runs", { body: {} })).json;
    const { jobAttemptId } = await runQueuedJob("prod-ok");
    const [fired] = await firedBy(upstream.id);
    expect(fired).toMatchObject({
      project: "chain-ok",
      pipeline: "consume",
      outcome: "started",
      datasets: [{ namespace: "s3://lake", name: "daily/2026-12-05" }],
      upstream: { namespace: "chain-ok", job: "produce.write", runId: jobAttemptId, ymRunId: upstream.id },
    });
    const downstream = (await api("GET", `/api/v1/runs/${fired.runId}`)).json;
    expect(downstream).toMatchObject({
      trigger: "lineage",
      params: { dataset_namespace: "s3://lake", dataset_name: "daily/2026-12-05", upstream_run: jobAttemptId },
      // Started inside the upstream run's object: the downstream run's own object records who started it.
      triggeredBy: { kind: "system", id: "chain-ok/consume", name: "dataset trigger of chain-ok/consume" },
    });

    // The downstream run attempt's parent is the upstream job attempt; the root is the upstream run attempt.
    const events = (await api("GET", `/api/v1/runs/${downstream.id}/lineage`)).json.items;
    const runAttemptEvent = events.find((e: any) => e.runId === downstream.attempts[0].id).event;
    expect(runAttemptEvent.run.facets.parent).toMatchObject({
      run: { runId: jobAttemptId },
      job: { namespace: "chain-ok", name: "produce.write" },
      root: { run: { runId: upstream.attempts[0].id }, job: { namespace: "chain-ok", name: "produce" } },
    });
    const jobEvent = events.find((e: any) => e.runId === downstream.attempts[0].jobs[0].attempts[0].id).event;
    expect(jobEvent.run.facets.parent).toMatchObject({ run: { runId: downstream.attempts[0].id }, root: { run: { runId: upstream.attempts[0].id } } });

    // The event is stored with the others, and the dataset has the job as its latest producer.
    const stored = (await api("GET", `/api/v1/lineage/events?runId=${jobAttemptId}`)).json.items;
    expect(stored.map((e: any) => [e.source, e.eventType])).toEqual([["yardmaster", "COMPLETE"]]);
    const dataset = (await api("GET", "/api/v1/datasets?q=daily/2026-12-05")).json.items[0];
    expect(dataset).toMatchObject({ producer: { namespace: "chain-ok", job: "produce.write", runId: jobAttemptId }, triggers: [{ project: "chain-ok", pipeline: "consume" }] });
  });

  it("a chain that comes back to a pipeline already in it is stopped, and says so", async () => {
    await project("chain-loop", {
      a: file({ name: "a", label: "loop-a", outputs: `        - namespace: s3://loop\n          name: a`, on: `    - namespace: s3://loop\n      name: b` }),
      b: file({ name: "b", label: "loop-b", outputs: `        - namespace: s3://loop\n          name: b`, on: `    - namespace: s3://loop\n      name: a` }),
    });
    const first = (await api("POST", "/api/v1/projects/chain-loop/pipelines/a/runs", { body: {} })).json;
    await runQueuedJob("loop-a");
    const [toB] = await firedBy(first.id);
    expect(toB).toMatchObject({ pipeline: "b", outcome: "started" });

    await runQueuedJob("loop-b");
    const [back] = await firedBy(toB.runId);
    expect(back).toMatchObject({
      pipeline: "a",
      outcome: "loop",
      runId: null,
      message: "not started: chain-loop/a → chain-loop/b → chain-loop/a is a loop (the chain would start chain-loop/a again)",
    });
    // Nothing else was started: the two runs only.
    expect((await api("GET", "/api/v1/runs?project=chain-loop")).json.items).toHaveLength(2);
  });

  it("a pipeline whose own output it listens to does not start itself", async () => {
    await project("chain-self", {
      self: file({ name: "self", label: "self", outputs: `        - namespace: s3://self\n          name: x`, on: `    - namespace: s3://self\n      name: x` }),
    });
    const run = (await api("POST", "/api/v1/projects/chain-self/pipelines/self/runs", { body: {} })).json;
    await runQueuedJob("self");
    const [fired] = await firedBy(run.id);
    expect(fired).toMatchObject({ outcome: "loop", message: expect.stringContaining("chain-self/self → chain-self/self") });
  });

  it("a loop through another tool that passes the parent facet on is stopped too", async () => {
    await project("chain-ext", {
      ext: file({ name: "ext", label: "ext", outputs: `        - namespace: s3://ext\n          name: out`, on: `    - namespace: s3://ext\n      name: back` }),
    });
    const run = (await api("POST", "/api/v1/projects/chain-ext/pipelines/ext/runs", { body: {} })).json;
    const { jobAttemptId } = await runQueuedJob("ext");
    // The run is in D1's listing once its projection has landed (the chain is looked up there).
    await vi.waitFor(
      async () => {
        const listed = (await api("GET", "/api/v1/runs?project=chain-ext")).json.items;
        if (listed[0]?.status !== "SUCCESS") throw new Error("not projected yet");
      },
      { timeout: 10_000, interval: 50 },
    );
    // Another tool, started by the run's output, writes the dataset the pipeline listens to and
    // names the Yardmaster job as its parent.
    const event = (parent: boolean) => ({
      eventType: "COMPLETE",
      eventTime: new Date().toISOString(),
      producer: "https://github.com/OpenLineage/OpenLineage/tree/1.30.0/integration/spark",
      schemaURL: "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
      run: {
        runId: crypto.randomUUID(),
        facets: parent
          ? {
              parent: {
                _producer: "https://github.com/OpenLineage/OpenLineage/tree/1.30.0/integration/spark",
                _schemaURL: "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet",
                run: { runId: jobAttemptId },
                job: { namespace: "chain-ext", name: "ext.write" },
                root: { run: { runId: run.attempts[0].id }, job: { namespace: "chain-ext", name: "ext" } },
              },
            }
          : {},
      },
      job: { namespace: "spark", name: "rebuild" },
      inputs: [{ namespace: "s3://ext", name: "out" }],
      outputs: [{ namespace: "s3://ext", name: "back" }],
    });
    const looped = await api("POST", "/api/v1/lineage", { body: event(true) });
    expect(looped.status, looped.text).toBe(201);
    expect(looped.json.triggered).toEqual([
      expect.objectContaining({ pipeline: "ext", outcome: "loop", runId: null, message: expect.stringContaining("chain-ext/ext → chain-ext/ext is a loop") }),
    ]);
    // Without the parent facet the other tool's event is an ordinary start.
    const unrelated = await api("POST", "/api/v1/lineage", { body: event(false) });
    expect(unrelated.json.triggered).toEqual([expect.objectContaining({ pipeline: "ext", outcome: "started" })]);
  });

  it("a chain stops at 10 runs, and says so", async () => {
    const pipelines: Record<string, string> = {};
    for (let i = 0; i <= MAX_CHAIN_DEPTH; i++) {
      pipelines[`s${i}`] = file({
        name: `s${i}`,
        label: `deep-${i}`,
        outputs: `        - namespace: s3://deep\n          name: d${i + 1}`,
        ...(i > 0 ? { on: `    - namespace: s3://deep\n      name: d${i}` } : {}),
      });
    }
    await project("chain-deep", pipelines);
    let runId = (await api("POST", "/api/v1/projects/chain-deep/pipelines/s0/runs", { body: {} })).json.id as string;
    for (let i = 0; i < MAX_CHAIN_DEPTH - 1; i++) {
      await runQueuedJob(`deep-${i}`);
      const [next] = await firedBy(runId);
      expect(next).toMatchObject({ pipeline: `s${i + 1}`, outcome: "started" });
      runId = next.runId;
    }
    // The tenth run's output would start an eleventh.
    await runQueuedJob(`deep-${MAX_CHAIN_DEPTH - 1}`);
    const [stopped] = await firedBy(runId);
    expect(stopped).toMatchObject({ pipeline: `s${MAX_CHAIN_DEPTH}`, outcome: "too_deep", runId: null });
    expect(stopped.message).toContain(`is already ${MAX_CHAIN_DEPTH} runs long`);
    expect((await api("GET", "/api/v1/runs?project=chain-deep&limit=100")).json.items).toHaveLength(MAX_CHAIN_DEPTH);
  });
});
