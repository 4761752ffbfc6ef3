/**
 * `POST /api/agent/v1/jobs/:jobAttemptId/pipeline`: a running job adds jobs to its run (the
 * bootstrap pattern of docs/pipelines.md). Real worker, RunObject, dispatcher and D1.
 */
import { describe, expect, it } from "vitest";
import { MAX_UPLOAD_DEPTH } from "../../domain/run-engine/index.ts";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, job, registerAgent } from "./agent-client.ts";

const bootstrap = (label: string) => `jobs:
  bootstrap:
    runs-on: [${label}]
    steps:
      - id: upload
        run: yardmaster-agent pipeline upload .yardmaster/build.act
`;

/** A project whose stored pipeline is the bootstrap, a run of it, and the bootstrap claimed and running. */
async function runningBootstrap(slug: string) {
  await projectWithPipeline(slug, bootstrap(slug));
  const agent = await registerAgent(`${slug}-agent`, [slug]);
  const run = (await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`)).json;
  const assignment = (await claim(agent.token)).json;
  const j = job(assignment.token, assignment.job.attemptId);
  expect((await j.step("upload", { attempt: 1, status: "RUNNING" })).status).toBe(200);
  const upload = (text: string, token = assignment.token, id = assignment.job.attemptId) =>
    api("POST", `/api/agent/v1/jobs/${id}/pipeline`, { token, raw: text, headers: { "content-type": "text/plain" } });
  return { agent, run, assignment, j, upload };
}

const built = (label: string) => `jobs:
  test:
    needs: [bootstrap]
    runs-on: [${label}]
    steps:
      - run: make test
  package:
    needs: [test]
    runs-on: [${label}]
    steps:
      - run: make dist
`;

describe("pipeline upload from a running job", () => {
  it("adds the jobs to the run: the view shows them, and they are claimed once the bootstrap succeeds", async () => {
    const { agent, run, j, upload } = await runningBootstrap("upl-ok");
    const res = await upload(built("upl-ok"));
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ added: ["test", "package"], unchanged: [] });
    const view = (await api("GET", `/api/v1/runs/${run.id}`)).json;
    expect(view.attempts[0].jobs.map((x: { key: string }) => x.key)).toEqual(["bootstrap", "test", "package"]);
    // The same upload again (a retry after a lost answer) changes nothing.
    expect((await upload(built("upl-ok"))).json).toEqual({ added: [], unchanged: ["test", "package"] });
    // The audit log names the agent that added them, once: the repeat added nothing.
    const appended = (await api("GET", "/api/v1/audit?action=run.append-jobs&project=upl-ok")).json.items;
    expect(appended).toMatchObject([{ actor: { kind: "agent", id: agent.agentId, name: "upl-ok-agent" }, target: `${run.id}: test, package` }]);

    expect((await claim(agent.token)).status).toBe(204); // test waits for the bootstrap
    await j.step("upload", { attempt: 1, status: "SUCCESS", exitCode: 0 });
    await j.finish({ status: "SUCCESS", outputs: {} });
    const next = await claim(agent.token, 10);
    expect(next.status).toBe(200);
    expect(next.json).toMatchObject({ job: { key: "test" }, steps: [{ run: "make test" }] });
    // The uploaded job's lineage events are the run's like any other job's.
    const t = job(next.json.token, next.json.job.attemptId);
    await t.step(next.json.steps[0].id, { attempt: 1, status: "RUNNING" });
    await t.step(next.json.steps[0].id, { attempt: 1, status: "SUCCESS", exitCode: 0 });
    await t.finish({ status: "SUCCESS", outputs: {} });
    const lineage = (await api("GET", `/api/v1/runs/${run.id}/lineage`)).json.items as { job: string; eventType: string }[];
    const types = (key: string) => lineage.filter((e) => e.job === `upl-ok/build.${key}`).map((e) => e.eventType);
    expect(types("test")).toEqual(types("bootstrap"));
    expect(types("test")).toEqual(expect.arrayContaining(["START", "COMPLETE"]));
  });

  it("refuses keys the run already has, naming them (409)", async () => {
    const { upload } = await runningBootstrap("upl-taken");
    const res = await upload("jobs:\n  bootstrap:\n    runs-on: [x]\n    steps: [{ run: echo }]\n");
    expect(res.status).toBe(409);
    expect(res.json.error).toMatchObject({ code: "job_keys_taken", details: { jobs: ["bootstrap"] } });
    expect(res.json.error.message).toContain('"bootstrap"');
  });

  it("answers a file's problems with their line and column (400), adding nothing", async () => {
    const { run, upload } = await runningBootstrap("upl-bad");
    const cycle = "jobs:\n  a:\n    needs: [b]\n    runs-on: [x]\n    steps: [{ run: x }]\n  b:\n    needs: [a]\n    runs-on: [x]\n    steps: [{ run: x }]\n";
    const res = await upload(cycle);
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("invalid_pipeline");
    expect(res.json.error.message).toMatch(/^line 3, column 13: jobs form a cycle/);
    expect(res.json.error.details.problems[0]).toMatchObject({ line: 3, column: 13, path: ["jobs", "a", "needs", 0] });
    const view = (await api("GET", `/api/v1/runs/${run.id}`)).json;
    expect(view.attempts[0].jobs).toHaveLength(1);
  });

  it("lets uploaded jobs need the run's jobs, and upload in turn up to the depth limit", async () => {
    const { agent, j, upload } = await runningBootstrap("upl-deep");
    expect((await upload("jobs:\n  j1:\n    needs: [bootstrap]\n    runs-on: [upl-deep]\n    steps: [{ id: s, run: up }]\n")).status).toBe(200);
    await j.step("upload", { attempt: 1, status: "SUCCESS", exitCode: 0 });
    await j.finish({ status: "SUCCESS", outputs: {} });
    for (let depth = 1; depth <= MAX_UPLOAD_DEPTH; depth++) {
      const a = (await claim(agent.token, 10)).json;
      expect(a.job.key).toBe(`j${depth}`);
      const jj = job(a.token, a.job.attemptId);
      await jj.step("s", { attempt: 1, status: "RUNNING" });
      const text = `jobs:\n  j${depth + 1}:\n    needs: [j${depth}, bootstrap]\n    runs-on: [upl-deep]\n    steps: [{ id: s, run: up }]\n`;
      const res = await upload(text, a.token, a.job.attemptId);
      if (depth < MAX_UPLOAD_DEPTH) {
        expect(res.status).toBe(200);
      } else {
        expect(res.status).toBe(409);
        expect(res.json.error.code).toBe("upload_too_deep");
      }
      await jj.step("s", { attempt: 1, status: "SUCCESS", exitCode: 0 });
      await jj.finish({ status: "SUCCESS", outputs: {} });
    }
  });

  it("gives uploaded jobs the project secrets they reference, though the stored bootstrap references none", async () => {
    await projectWithPipeline("upl-sec", bootstrap("upl-sec"));
    expect((await api("PUT", "/api/v1/projects/upl-sec/secrets/DEPLOY_KEY", { body: { value: "s3cr3t-value" } })).status).toBe(201);
    const agent = await registerAgent("upl-sec-agent", ["upl-sec"]);
    await api("POST", "/api/v1/projects/upl-sec/pipelines/build/runs");
    const boot = (await claim(agent.token, 10)).json;
    expect(boot.mask).toEqual([]);
    const j = job(boot.token, boot.job.attemptId);
    await j.step("upload", { attempt: 1, status: "RUNNING" });
    const text = "jobs:\n  deploy:\n    needs: [bootstrap]\n    runs-on: [upl-sec]\n    steps: [{ run: 'deploy --key ${{ secrets.DEPLOY_KEY }}' }]\n";
    const res = await api("POST", `/api/agent/v1/jobs/${boot.job.attemptId}/pipeline`, { token: boot.token, raw: text, headers: { "content-type": "text/plain" } });
    expect(res.status, res.text).toBe(200);
    await j.step("upload", { attempt: 1, status: "SUCCESS", exitCode: 0 });
    await j.finish({ status: "SUCCESS", outputs: {} });
    const deploy = (await claim(agent.token, 10)).json;
    expect(deploy.job.key).toBe("deploy");
    expect(deploy.steps[0].run).toBe("deploy --key s3cr3t-value");
    expect(deploy.mask).toEqual(["s3cr3t-value"]);
  });

  it("refuses a job on a queue the project may not use (400, with line and column), as a stored pipeline is", async () => {
    expect((await api("POST", "/api/v1/queues", { body: { name: "vault", projects: ["someone-else"] } })).status).toBe(201);
    const { run, upload } = await runningBootstrap("upl-queue");
    const res = await upload("jobs:\n  steal:\n    queue: vault\n    runs-on: [x]\n    steps: [{ run: x }]\n");
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("invalid_pipeline");
    expect(res.json.error.details.problems[0]).toMatchObject({ line: 3 });
    expect(res.json.error.message).toContain("queue 'vault' does not allow project 'upl-queue'");
    expect((await api("GET", `/api/v1/runs/${run.id}`)).json.attempts[0].jobs).toHaveLength(1);
    expect((await upload("jobs:\n  ok:\n    queue: default\n    runs-on: [x]\n    steps: [{ run: x }]\n")).status).toBe(200);
  });

  it("refuses another job's token, and a job that has ended", async () => {
    const { j, upload, assignment } = await runningBootstrap("upl-auth");
    const other = await runningBootstrap("upl-auth2");
    expect((await upload(built("upl-auth"), other.assignment.token)).status).toBe(403);
    await j.step("upload", { attempt: 1, status: "SUCCESS", exitCode: 0 });
    await j.finish({ status: "SUCCESS", outputs: {} });
    const late = await upload(built("upl-auth"), assignment.token);
    expect(late.status).toBe(410);
  });
});
