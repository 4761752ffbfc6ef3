import { runDurableObjectAlarm } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, job, registerAgent, sha256 } from "./agent-client.ts";

const ONE_JOB = `jobs:
  build:
    runs-on: [linux]
    steps:
      - id: compile
        run: make
`;

describe("agent protocol", () => {
  it("50 agents racing for one job: exactly one gets it", async () => {
    await projectWithPipeline("race", ONE_JOB);
    const registration = (await api("POST", "/api/v1/agent-tokens", { body: {} })).json.token;
    const agents = await Promise.all(Array.from({ length: 50 }, (_, i) => registerAgent(`a${i}`, ["linux"], registration)));
    const run = (await api("POST", "/api/v1/projects/race/pipelines/build/runs")).json;
    const answers = await Promise.all(agents.map((a) => claim(a.token, 1)));
    const winners = answers.filter((r) => r.status === 200);
    expect(winners).toHaveLength(1);
    expect(answers.filter((r) => r.status === 204)).toHaveLength(49);
    expect(winners[0]!.json.run.id).toBe(run.id);
    const view = (await api("GET", `/api/v1/runs/${run.id}`)).json;
    expect(view.attempts[0].jobs[0].attempts[0].status).toBe("RUNNING");
  });

  it("a claim is held open and answered the moment a matching job is ready", async () => {
    await projectWithPipeline("held", ONE_JOB);
    const agent = await registerAgent("waiter", ["linux"]);
    const pending = claim(agent.token, 20);
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    await api("POST", "/api/v1/projects/held/pipelines/build/runs");
    const answer = await pending;
    expect(answer.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("an agent only takes jobs whose labels it carries", async () => {
    await projectWithPipeline("labels", ONE_JOB.replace("[linux]", "[linux, gpu]"));
    const plain = await registerAgent("plain", ["linux"]);
    const gpu = await registerAgent("gpu", ["linux", "gpu", "big"]);
    await api("POST", "/api/v1/projects/labels/pipelines/build/runs");
    expect((await claim(plain.token)).status).toBe(204);
    expect((await claim(gpu.token)).status).toBe(200);
  });

  it("runs a job: steps, logs with a resend and a gap, an artifact, finish; late calls refused", async () => {
    await projectWithPipeline("proto", ONE_JOB);
    const agent = await registerAgent("worker-1", ["linux"]);
    const run = (await api("POST", "/api/v1/projects/proto/pipelines/build/runs")).json;
    const assignment = (await claim(agent.token)).json;
    expect(assignment).toMatchObject({ protocol: 1, job: { key: "build", attempt: 1 }, steps: [{ id: "compile", run: "make" }] });
    const j = job(assignment.token, assignment.job.attemptId);

    expect((await j.heartbeat()).json).toEqual({ cancel: false });
    expect((await j.step("compile", { attempt: 1, status: "RUNNING" })).status).toBe(200);

    const enc = new TextEncoder();
    const first = enc.encode("\x1b[32mcompiling\x1b[0m\n");
    const second = new Uint8Array([0xff, 0xfe, 0x0a]); // invalid UTF-8 must survive
    expect((await j.log(0, 0, first)).json).toEqual({ nextSeq: 1, nextOffset: first.byteLength });
    expect((await j.log(0, 0, first)).json).toEqual({ nextSeq: 1, nextOffset: first.byteLength }); // resend: stored once
    const gap = await j.log(2, 999, second);
    expect(gap.status).toBe(409);
    expect(gap.json.error).toMatchObject({ code: "log_gap", details: { nextSeq: 1, nextOffset: first.byteLength } });
    expect((await j.log(1, first.byteLength, second)).status).toBe(200);

    const bytes = enc.encode("coverage: 93%\n");
    const bad = await j.artifact("coverage/report.txt", bytes, "0".repeat(64));
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe("sha256_mismatch");
    const good = await j.artifact("coverage/report.txt", bytes, await sha256(bytes));
    expect(good.status).toBe(201);
    expect(good.json).toMatchObject({ name: "coverage/report.txt", size: bytes.byteLength, job: "build", run: run.id });
    expect((await j.artifact("../escape.txt", bytes, await sha256(bytes))).status).toBe(400);

    expect((await j.step("compile", { attempt: 1, status: "SUCCESS", exitCode: 0, outputs: { version: "1.0" }, metrics: [{ name: "files", kind: "counter", value: 3 }] })).status).toBe(200);
    expect((await j.finish({ status: "SUCCESS", outputs: { version: "1.0" } })).status).toBe(200);

    // The job has ended: its token no longer works for anything but late log chunks.
    const late = await j.step("compile", { attempt: 1, status: "FAILED" });
    expect(late.status).toBe(410);
    expect((await j.heartbeat()).status).toBe(410);

    const view = (await api("GET", `/api/v1/runs/${run.id}`)).json;
    expect(view.status).toBe("SUCCESS");
    const step = view.attempts[0].jobs[0].attempts[0].steps[0];
    expect(step).toMatchObject({ status: "SUCCESS", exitCode: 0, outputs: { version: "1.0" }, metrics: [{ name: "files", kind: "counter", value: 3 }] });
    expect(view.attempts[0].jobs[0].outputs).toEqual({ version: "1.0" });

    // The log, byte for byte, before and after it is archived to R2.
    const expected = new Uint8Array([...first, ...second]);
    const getLog = async () =>
      new Uint8Array(await (await exports.default.fetch(`http://x/api/v1/runs/${run.id}/jobs/build/log`, { headers: { authorization: "Bearer test-admin-token" } })).arrayBuffer());
    expect(await getLog()).toEqual(expected);
    const stub = env.RUNS.get(env.RUNS.idFromName(run.id));
    await new Promise((r) => setTimeout(r, 5_100)); // the archive waits a few seconds for in-flight chunks
    await runDurableObjectAlarm(stub);
    const archived = await env.ARTIFACTS.get(`logs/${run.id}/${assignment.job.attemptId}.log`);
    expect(archived).not.toBeNull();
    expect(new Uint8Array(await archived!.arrayBuffer())).toEqual(expected);
    expect(await getLog()).toEqual(expected);

    // The artifact is indexed in D1 and downloads with its bytes.
    const listed = (await api("GET", `/api/v1/artifacts?run=${run.id}`)).json;
    expect(listed.items.map((a: { name: string }) => a.name)).toEqual(["coverage/report.txt"]);
    const download = await exports.default.fetch(`http://x/api/v1/artifacts/${listed.items[0].id}/download`, { headers: { authorization: "Bearer test-admin-token" } });
    expect(download.headers.get("content-length")).toBe(String(bytes.byteLength));
    expect(new Uint8Array(await download.arrayBuffer())).toEqual(bytes);
    expect((await api("GET", `/api/v1/artifacts?q=report`)).json.items).toHaveLength(1);
    expect((await api("GET", `/api/v1/artifacts?q=nothing-like-it`)).json.items).toHaveLength(0);
  }, 20_000);

  it("a job token cannot touch another job", async () => {
    await projectWithPipeline("scope", ONE_JOB);
    const agent = await registerAgent("s", ["linux"]);
    await api("POST", "/api/v1/projects/scope/pipelines/build/runs");
    await api("POST", "/api/v1/projects/scope/pipelines/build/runs");
    const a = (await claim(agent.token)).json;
    const b = (await claim(agent.token)).json;
    const wrong = await api("POST", `/api/agent/v1/jobs/${b.job.attemptId}/heartbeat`, { token: a.token });
    expect(wrong.status).toBe(403);
    const forged = await api("POST", `/api/agent/v1/jobs/${b.job.attemptId}/heartbeat`, { token: b.token.replace(/\.[^.]+$/, ".forged") });
    expect(forged.status).toBe(401);
    expect((await api("GET", "/api/v1/runs", { token: agent.token })).status).toBe(401);
  });
});

describe("job tokens naming a run that does not exist", () => {
  it("are refused with 401, like any other invalid token", async () => {
    const runId = "01a20000-0000-7000-8000-000000000001";
    const jobAttemptId = "01a20000-0000-7000-8000-000000000002";
    const res = await api("POST", `/api/agent/v1/jobs/${jobAttemptId}/heartbeat`, { token: `ymj.${runId}.${jobAttemptId}.forged` });
    expect(res.status).toBe(401);
    expect(res.json.error.code).toBe("invalid_job_token");
  });
});
