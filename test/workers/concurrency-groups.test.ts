/**
 * Concurrency groups through the API, with real RunObjects and the project's real
 * ConcurrencyGroupsObject (issue 17): two runs triggered at once in one group never both run,
 * the second waits CREATED with `waitingOn: ["concurrency: <group>"]` and starts when the
 * first ends; with cancel-in-progress the older run is cancelled, reason `superseded`, naming
 * the newer one.
 */
import { describe, expect, it } from "vitest";
import { claim, job } from "./agent-client.ts";
import { api, projectWithPipeline } from "./api-client.ts";
import { agentWith, claimNext, getRun, jobOf, runClaimed } from "./run-helpers.ts";

const pipeline = (label: string, cancelInProgress: boolean) => `name: build
concurrency: { group: "deploy-\${{ run.branch }}", cancel-in-progress: ${cancelInProgress} }
jobs:
  deploy:
    runs-on: [${label}]
    steps:
      - id: ship
        run: ./deploy.sh
`;

/** Waits for what the objects deliver to each other after answering (their outboxes). */
async function eventually<T>(check: () => Promise<T>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const trigger = async (slug: string) => {
  const res = await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`, { body: { branch: "main" } });
  expect(res.status, res.text).toBe(201);
  return res.json.id as string;
};

describe("concurrency groups", () => {
  it("two runs triggered at once in one group never both run; the other waits, then starts", async () => {
    const slug = "group-one";
    await projectWithPipeline(slug, pipeline(slug, false));
    const [agent, second] = [await agentWith(slug), await agentWith(`${slug}-b`)];
    const runIds = await Promise.all([trigger(slug), trigger(slug)]);

    const first = await claimNext(agent.token);
    const holder = first.run.id;
    const waiter = runIds.find((id) => id !== holder)!;
    expect(runIds).toContain(holder);
    const waiting = await getRun(waiter);
    expect(waiting.status).toBe("CREATED");
    expect(waiting.attempts[0].waitingOn).toEqual(["concurrency: deploy-main"]);
    expect(jobOf(waiting, "deploy")).toMatchObject({ status: "CREATED", waitingOn: ["concurrency: deploy-main"] });
    expect(waiting.attempts[0].concurrency).toMatchObject({ group: "deploy-main", status: "waiting" });
    // Nothing of the waiting run is in the queue, so no agent can take it.
    const queue = (await api("GET", "/api/v1/queue")).json;
    expect(queue.pending.filter((e: { runId: string }) => e.runId === waiter)).toEqual([]);
    const groups = await api("GET", `/api/v1/projects/${slug}/concurrency-groups`);
    expect(groups.json.items).toEqual([
      {
        group: "deploy-main",
        holder: expect.objectContaining({ runId: holder, label: expect.stringMatching(/^run #\d+$/) }),
        waiting: [expect.objectContaining({ runId: waiter })],
      },
    ]);
    expect((await claim(second.token, 0)).status).toBe(204);
    // The queue page's view: every visible project with a run going.
    const active = (await api("GET", "/api/v1/queue/groups")).json.items.filter((g: { project: string }) => g.project === slug);
    expect(active).toEqual([{ project: slug, ...groups.json.items[0] }]);

    await runClaimed(first, "SUCCESS");
    // The group passes to the waiter once the holder's release reaches the group object.
    const next = await claimNext(agent.token);
    expect(next.run.id).toBe(waiter);
    expect((await getRun(holder)).attempts[0].concurrency).toMatchObject({ status: "released" });
    await runClaimed(next, "SUCCESS");
    await eventually(async () => expect((await api("GET", `/api/v1/projects/${slug}/concurrency-groups`)).json.items).toEqual([]));
  });

  it("cancel-in-progress: the older run is cancelled, reason superseded, naming the newer", async () => {
    const slug = "group-cancel";
    await projectWithPipeline(slug, pipeline(slug, true));
    const agent = await agentWith(slug);
    const older = await trigger(slug);
    const running = await claimNext(agent.token);
    expect(running.run.id).toBe(older);
    expect((await job(running.token, running.job.attemptId).step("ship", { attempt: 1, status: "RUNNING" })).status).toBe(200);

    const newer = await trigger(slug);
    const newerNumber = (await getRun(newer)).number;
    // The older run's agent learns it from its heartbeat, stops, and reports.
    await eventually(async () => expect((await job(running.token, running.job.attemptId).heartbeat()).json).toEqual({ cancel: true }));
    const finished = await job(running.token, running.job.attemptId).finish({ status: "KILLED", outputs: {} });
    expect(finished.status, finished.text).toBe(200);

    const run = await getRun(older);
    expect(run.status).toBe("KILLED");
    expect(run.history.at(-1)).toMatchObject({ to: "KILLED", reason: "superseded" });
    expect(jobOf(run, "deploy").attempts[0]).toMatchObject({ status: "KILLED", reason: "superseded" });
    expect(run.attempts[0].concurrency).toEqual({ group: "deploy-main", cancelInProgress: true, status: "released", supersededBy: { runId: newer, runNumber: newerNumber } });

    const next = await claimNext(agent.token);
    expect(next.run.id).toBe(newer);
    await runClaimed(next, "SUCCESS");
    expect((await getRun(newer)).status).toBe("SUCCESS");
  });

  it("a job's own group (templated by its matrix) passes to the next run's job when the holder's run is cancelled", async () => {
    const slug = "group-job";
    await projectWithPipeline(
      slug,
      `name: build
jobs:
  migrate:
    matrix: { db: [main] }
    concurrency: "db-\${{ matrix.db }}"
    runs-on: [${slug}]
    steps: [{ id: m, run: ./migrate.sh }]
`,
    );
    const agent = await agentWith(slug);
    const first = await trigger(slug);
    const held = await claimNext(agent.token);
    expect(held.run.id).toBe(first);
    const second = await trigger(slug);
    const waiting = await eventually(async () => {
      const job = jobOf(await getRun(second), "migrate (main)");
      expect(job.waitingOn).toEqual(["concurrency: db-main"]);
      return job;
    });
    expect(waiting.concurrency).toMatchObject({ group: "db-main", status: "waiting" });
    // The first run is cancelled: its job ends when its agent confirms, and the group passes on.
    expect((await api("POST", `/api/v1/runs/${first}/cancel`)).status).toBe(200);
    expect((await job(held.token, held.job.attemptId).finish({ status: "KILLED", outputs: {} })).status).toBe(200);
    const next = await claimNext(agent.token);
    expect([next.run.id, next.job.key]).toEqual([second, "migrate (main)"]);
    await runClaimed(next, "SUCCESS");
    expect(jobOf(await getRun(second), "migrate (main)").concurrency).toMatchObject({ status: "released" });
  });

  it("refuses a pipeline whose group uses what a group cannot", async () => {
    const res = await api("POST", "/api/v1/projects", { body: { slug: "group-bad" } });
    expect(res.status, res.text).toBe(201);
    const upload = await api("PUT", "/api/v1/projects/group-bad/pipelines/build", {
      raw: `name: build\nconcurrency: { group: "x-\${{ secrets.T }}" }\njobs: { a: { runs-on: l, steps: [{ run: e }] } }\n`,
      headers: { "content-type": "text/plain" },
    });
    expect(upload.status).toBe(400);
    expect(JSON.stringify(upload.json.error)).toContain("secrets.T");
  });
});
