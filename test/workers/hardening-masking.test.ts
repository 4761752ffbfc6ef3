// Issue 13, item 1 (server side): step and job outputs are masked with the run's secrets in the
// RunObject before they are stored, shown, projected to D1 or handed to other jobs — whatever
// the agent sent (a buggy or old agent that did not mask them itself).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { claim, job, registerAgent } from "./agent-client.ts";
import { api, projectWithPipeline } from "./api-client.ts";

// Long enough that its base64 is long too; masked raw, as base64 and inside other text.
const SECRET = "s3cr3t-Value-that-is-long-enough-to-wrap-when-base64-encoded-0123456789";
const PIPELINE = `jobs:
  make:
    runs-on: [mask-make]
    env: { KEY: "\${{ secrets.KEY }}" }
    steps:
      - id: leak
        run: echo "v=$KEY" >> "$YM_OUTPUT"
    outputs: { v: "\${{ steps.leak.outputs.v }}" }
  use:
    needs: [make]
    runs-on: [mask-use]
    steps:
      - run: echo "\${{ needs.make.outputs.v }}"
`;

async function d1Text(): Promise<string> {
  const dumps: string[] = [];
  for (const table of ["runs", "jobs", "steps", "job_attempts"]) {
    const rows = await env.DB.prepare(`SELECT * FROM "${table}"`).all().catch(() => ({ results: [] }));
    dumps.push(JSON.stringify(rows.results));
  }
  return dumps.join("\n");
}

describe("outputs are masked by the server", () => {
  it("a secret in step and job outputs is stored, shown, projected and passed on as ***", async () => {
    await projectWithPipeline("masked-outputs", PIPELINE);
    expect((await api("PUT", "/api/v1/projects/masked-outputs/secrets/KEY", { body: { value: SECRET } })).status).toBeLessThan(300);
    const run = (await api("POST", "/api/v1/projects/masked-outputs/pipelines/build/runs")).json;
    const maker = await registerAgent("mask-maker", ["mask-make"]);
    const a = (await claim(maker.token)).json;
    expect(a.mask).toContain(SECRET);
    const j = job(a.token, a.job.attemptId);
    const b64 = btoa(SECRET);
    // An agent that does not mask (old, buggy or hostile to its own run's secrecy).
    const leaked = { v: `token=${SECRET};`, b: b64, plain: "nothing secret" };
    expect((await j.step("leak", { attempt: 1, status: "RUNNING" })).status).toBe(200);
    expect((await j.step("leak", { attempt: 1, status: "SUCCESS", exitCode: 0, outputs: leaked })).status).toBe(200);
    expect((await j.finish({ status: "SUCCESS", outputs: { v: `token=${SECRET};` } })).status).toBe(200);

    const view = await api("GET", `/api/v1/runs/${run.id}`);
    expect(view.text).not.toContain(SECRET);
    expect(view.text).not.toContain(b64);
    const made = view.json.attempts[0].jobs.find((x: { key: string }) => x.key === "make");
    expect(made.outputs).toEqual({ v: "token=***;" });
    expect(made.attempts[0].steps[0].outputs).toEqual({ v: "token=***;", b: "***", plain: "nothing secret" });

    const user = await registerAgent("mask-user", ["mask-use"]);
    const next = await claim(user.token);
    expect(next.status).toBe(200);
    expect(next.json.steps[0].run).toBe('echo "token=***;"');
    expect(next.text).not.toContain(SECRET);

    // D1 (the projection) catches up asynchronously: wait until the job's outputs are there.
    for (let i = 0; i < 50 && !(await d1Text()).includes("token=***;"); i++) await new Promise((r) => setTimeout(r, 100));
    const stored = await d1Text();
    expect(stored).toContain("token=***;");
    expect(stored).not.toContain(SECRET);
    expect(stored).not.toContain(b64);
  });
});
