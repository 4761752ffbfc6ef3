// Protocol 2's report route (docs/agent-protocol.md "Protocol 2"): a log chunk, step updates,
// the heartbeat and the finish in one call, beside v1's routes, which keep serving older agents.
import { describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, job, registerAgent, report } from "./agent-client.ts";

const ONE_JOB = `jobs:
  build:
    runs-on: [linux]
    outputs: { version: "\${{ steps.compile.outputs.version }}" }
    steps:
      - id: compile
        run: make
`;

async function claimed(project: string, protocol?: number) {
  await projectWithPipeline(project, ONE_JOB);
  const agent = await registerAgent(`${project}-agent`, ["linux"]);
  const run = (await api("POST", `/api/v1/projects/${project}/pipelines/build/runs`)).json;
  const answer = await claim(agent.token, 0, protocol);
  expect(answer.status).toBe(200);
  return { run, assignment: answer.json as { token: string; protocol: number; job: { attemptId: string } } };
}

const logText = async (runId: string) => (await api("GET", `/api/v1/runs/${runId}/jobs/build/log`)).text;

describe("agent protocol 2: the report", () => {
  it("a claim that asks for protocol 2 gets it; one without gets 1", async () => {
    expect((await claimed("p2-ask", 2)).assignment.protocol).toBe(2);
    expect((await claimed("p2-old")).assignment.protocol).toBe(1);
  });

  it("one call carries a step's start and end, the log's last bytes and the finish", async () => {
    const { run, assignment } = await claimed("p2-one", 2);
    const id = assignment.job.attemptId;
    const bytes = new TextEncoder().encode("compiling\ndone\n");
    const answer = await report(
      assignment.token,
      id,
      {
        steps: [
          { stepId: "compile", attempt: 1, status: "RUNNING" },
          { stepId: "compile", attempt: 1, status: "SUCCESS", exitCode: 0, outputs: { version: "1.2.3" } },
        ],
        finish: { status: "SUCCESS", outputs: { version: "1.2.3" } },
      },
      { seq: 0, offset: 0, bytes },
    );
    expect(answer.status, answer.text).toBe(200);
    expect(answer.json).toEqual({ cancel: false, log: { nextSeq: 1, nextOffset: bytes.byteLength }, steps: [{ ok: true }, { ok: true }], finished: true });
    const view = (await api("GET", `/api/v1/runs/${run.id}`)).json;
    expect(view.status).toBe("SUCCESS");
    const built = view.attempts[0].jobs[0];
    expect(built.outputs).toEqual({ version: "1.2.3" });
    expect(built.attempts[0].steps[0]).toMatchObject({ id: "compile", status: "SUCCESS", outputs: { version: "1.2.3" } });
    expect(await logText(run.id)).toBe("compiling\ndone\n");
    // The same finish again (its answer was lost): taken as done, nothing changes.
    const again = await report(assignment.token, id, { steps: [], finish: { status: "SUCCESS", outputs: { version: "1.2.3" } } });
    expect(again.status, again.text).toBe(200);
    expect((await api("GET", `/api/v1/runs/${run.id}`)).json.attempts[0].jobs[0].outputs).toEqual({ version: "1.2.3" });
  });

  it("a resent chunk is stored once; a chunk past a gap refuses the whole report, steps and all", async () => {
    const { run, assignment } = await claimed("p2-gap", 2);
    const id = assignment.job.attemptId;
    const first = new TextEncoder().encode("one\n");
    const running = { stepId: "compile", attempt: 1, status: "RUNNING" };
    expect((await report(assignment.token, id, { steps: [running] }, { seq: 0, offset: 0, bytes: first })).json.log).toEqual({ nextSeq: 1, nextOffset: 4 });
    // The answer was lost: the same report again changes nothing.
    const resent = await report(assignment.token, id, { steps: [running] }, { seq: 0, offset: 0, bytes: first });
    expect(resent.status).toBe(200);
    expect(resent.json.log).toEqual({ nextSeq: 1, nextOffset: 4 });
    const ahead = await report(
      assignment.token,
      id,
      { steps: [{ stepId: "compile", attempt: 1, status: "SUCCESS", exitCode: 0 }] },
      { seq: 2, offset: 9, bytes: new TextEncoder().encode("three\n") },
    );
    expect(ahead.status).toBe(409);
    expect(ahead.json.error).toMatchObject({ code: "log_gap", details: { nextSeq: 1, nextOffset: 4 } });
    const steps = (await api("GET", `/api/v1/runs/${run.id}`)).json.attempts[0].jobs[0].attempts[0].steps;
    expect(steps[0].status).toBe("RUNNING");
    expect(await logText(run.id)).toBe("one\n");
  });

  it("a step update out of order is refused on its own; the call is a heartbeat that says cancel", async () => {
    const { run, assignment } = await claimed("p2-order", 2);
    const id = assignment.job.attemptId;
    const out = await report(assignment.token, id, { steps: [{ stepId: "compile", attempt: 2, status: "SUCCESS" }] });
    expect(out.status).toBe(200);
    expect(out.json.steps[0]).toMatchObject({ ok: false });
    expect(out.json.cancel).toBe(false);
    expect((await api("POST", `/api/v1/runs/${run.id}/cancel`)).status).toBe(200);
    expect((await report(assignment.token, id, { steps: [] })).json.cancel).toBe(true);
    // A report of a log chunk alone says it too.
    const chunk = await report(assignment.token, id, { steps: [] }, { seq: 0, offset: 0, bytes: new TextEncoder().encode("bye\n") });
    expect([chunk.status, chunk.json.cancel, chunk.json.log]).toEqual([200, true, { nextSeq: 1, nextOffset: 4 }]);
  });

  it("refuses what is not a report (400), a missing or another job's token (401/403), and a token after the job ended (410)", async () => {
    const { assignment } = await claimed("p2-bad", 2);
    const id = assignment.job.attemptId;
    const path = `/api/agent/v2/jobs/${id}/report`;
    const raw = (body: string, query = "", token: string | null = assignment.token) =>
      api("POST", `${path}${query}`, { token, raw: body, headers: { "content-type": "application/octet-stream" } });
    expect((await raw("not json\n")).json.error.code).toBe("invalid_request");
    expect((await raw('{"steps":[{"stepId":"x","attempt":0,"status":"RUNNING"}]}\n')).status).toBe(400);
    expect((await raw("{}\nbytes without a position")).status).toBe(400);
    expect((await raw("{}\n", "?seq=0")).status).toBe(400);
    expect((await raw("{}\n", "", null)).status).toBe(401);
    const other = await claimed("p2-other", 2);
    expect((await api("POST", path, { token: other.assignment.token, raw: "{}\n" })).status).toBe(403);
    expect((await report(assignment.token, id, { finish: { status: "SUCCESS", outputs: {} } })).status).toBe(200);
    expect((await report(assignment.token, id, { steps: [] })).status).toBe(410);
  });

  it("v1's calls still serve an older agent beside it", async () => {
    const { run, assignment } = await claimed("p2-v1");
    const j = job(assignment.token, assignment.job.attemptId);
    expect((await j.step("compile", { attempt: 1, status: "RUNNING" })).status).toBe(200);
    expect((await j.log(0, 0, new TextEncoder().encode("v1\n"))).status).toBe(200);
    expect((await j.step("compile", { attempt: 1, status: "SUCCESS", exitCode: 0 })).status).toBe(200);
    expect((await j.finish({ status: "SUCCESS", outputs: {} })).status).toBe(200);
    expect((await api("GET", `/api/v1/runs/${run.id}`)).json.status).toBe("SUCCESS");
    expect(await logText(run.id)).toBe("v1\n");
  });
});
