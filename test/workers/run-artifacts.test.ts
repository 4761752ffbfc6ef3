// Issue 18: a running job lists and downloads its run's artifacts with its job token
// (`yardmaster-agent artifact download`), and only its own run's.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, job, registerAgent, sha256 } from "./agent-client.ts";

const TWO_JOBS = (label: string) => `jobs:
  build:
    runs-on: [${label}]
    steps: [{ id: compile, run: make }]
  test:
    runs-on: [${label}]
    steps: [{ id: check, run: make test }]
`;

/** A run of two jobs that both run at once; each with its job token. */
async function runningRun(slug: string) {
  await projectWithPipeline(slug, TWO_JOBS(slug));
  const agent = await registerAgent(`${slug}-agent`, [slug]);
  const run = (await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`)).json;
  const claimed = [(await claim(agent.token)).json, (await claim(agent.token)).json];
  const byKey = (key: string) => claimed.find((a) => a.job.key === key)!;
  const handle = (a: { token: string; job: { attemptId: string } }) => ({ token: a.token, jobAttemptId: a.job.attemptId, ...job(a.token, a.job.attemptId) });
  return { run, build: handle(byKey("build")), test: handle(byKey("test")) };
}

const bytes = (text: string) => new TextEncoder().encode(text);

function runArtifacts(who: { token: string; jobAttemptId: string }, query = "") {
  return api("GET", `/api/agent/v1/jobs/${who.jobAttemptId}/run/artifacts${query}`, { token: who.token });
}

function download(who: { token: string; jobAttemptId: string }, artifact: string) {
  return api("GET", `/api/agent/v1/jobs/${who.jobAttemptId}/run/artifacts/${artifact}`, { token: who.token });
}

describe("a job reads its run's artifacts", () => {
  it("another job of the run lists what was uploaded, newest first, and downloads the bytes with their sha256", async () => {
    const { run, build, test } = await runningRun("ra-list");
    const report = bytes("report of the build\n");
    const stored = (await build.artifact("out/report.txt", report, await sha256(report))).json;
    const other = bytes("the binary");
    await build.artifact("out/app.bin", other, await sha256(other));

    const listed = await runArtifacts(test);
    expect(listed.status).toBe(200);
    expect(listed.json.items.map((a: { name: string }) => a.name)).toEqual(["out/app.bin", "out/report.txt"]);
    expect(listed.json.items[1]).toMatchObject({ id: stored.id, run: run.id, job: "build", sha256: await sha256(report), size: report.byteLength });
    expect(listed.json.cursor).toBeNull();

    const got = await download(test, stored.id);
    expect(got.status).toBe(200);
    expect(got.text).toBe("report of the build\n");
    expect(got.headers.get("x-checksum-sha256")).toBe(await sha256(report));
    expect(got.headers.get("content-length")).toBe(String(report.byteLength));
  });

  it("`job` narrows to one job's artifacts; pages follow the cursor", async () => {
    const { build, test } = await runningRun("ra-filter");
    for (const name of ["a.txt", "b.txt", "c.txt"]) await build.artifact(name, bytes(name), await sha256(bytes(name)));
    await test.artifact("mine.txt", bytes("mine"), await sha256(bytes("mine")));
    expect((await runArtifacts(build, "?job=test")).json.items.map((a: { name: string }) => a.name)).toEqual(["mine.txt"]);
    expect((await runArtifacts(build, "?job=nope")).json.items).toEqual([]);
    const first = (await runArtifacts(test, "?job=build&limit=2")).json;
    expect(first.items.map((a: { name: string }) => a.name)).toEqual(["c.txt", "b.txt"]);
    const second = (await runArtifacts(test, `?job=build&limit=2&cursor=${first.cursor}`)).json;
    expect(second.items.map((a: { name: string }) => a.name)).toEqual(["a.txt"]);
    expect(second.cursor).toBeNull();
  });

  it("another run's artifact is not there: 404 on download, absent from the list", async () => {
    const mine = await runningRun("ra-mine");
    const theirs = await runningRun("ra-theirs");
    const secret = bytes("their secret build output");
    const theirArtifact = (await theirs.build.artifact("secret.txt", secret, await sha256(secret))).json;
    expect((await download(theirs.test, theirArtifact.id)).status).toBe(200);

    const refused = await download(mine.test, theirArtifact.id);
    expect(refused.status).toBe(404);
    expect(refused.json.error.code).toBe("artifact_not_found");
    expect(refused.text).not.toContain("their secret");
    expect((await runArtifacts(mine.test)).json.items).toEqual([]);
  });

  it("refuses an ended job's token (410), an expired artifact (410), and a bad query (400)", async () => {
    const { build, test } = await runningRun("ra-ended");
    const data = bytes("data");
    const stored = (await build.artifact("data.txt", data, await sha256(data))).json;
    await env.DB.prepare("UPDATE artifacts SET expired_at = ? WHERE id = ?").bind(Date.now(), stored.id).run();
    const expired = await download(test, stored.id);
    expect(expired.status).toBe(410);
    expect(expired.json.error.message).toContain("retention");
    expect((await runArtifacts(test)).json.items[0]).toMatchObject({ name: "data.txt", expired: true });

    expect((await runArtifacts(test, "?limit=0")).status).toBe(400);
    expect((await download(test, "not-an-id")).status).toBe(400);

    expect((await build.finish({ status: "SUCCESS", outputs: {} })).status).toBe(200);
    const ended = await runArtifacts(build);
    expect(ended.status).toBe(410);
    expect(ended.json.error.code).toBe("job_ended");
  });
});
