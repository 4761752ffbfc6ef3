// Issue 13, items 10 and 11: a second upload of an artifact's name never replaces or deletes the
// bytes the first one stored (racing single PUTs, a multipart upload completed after a PUT), and
// the artifact search takes `_` and `%` literally.
import { exports } from "cloudflare:workers";
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

async function runningJob(slug: string) {
  await projectWithPipeline(slug, ONE_JOB);
  const agent = await registerAgent(`${slug}-agent`, ["linux"]);
  const run = (await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`)).json;
  const assignment = (await claim(agent.token)).json;
  return { run, token: assignment.token as string, jobAttemptId: assignment.job.attemptId as string };
}

async function download(id: string): Promise<string> {
  const res = await exports.default.fetch(`http://x/api/v1/artifacts/${id}/download`, { headers: { authorization: "Bearer test-admin-token" } });
  expect(res.status).toBe(200);
  return res.text();
}

const bytes = (text: string) => new TextEncoder().encode(text);

describe("an artifact's bytes belong to the upload that recorded it", () => {
  it("two racing single PUTs of one name: one is recorded, and its bytes are what downloads", async () => {
    const { run, token, jobAttemptId } = await runningJob("art-race");
    const j = job(token, jobAttemptId);
    // Several rounds, each a new name: the race goes either way, the stored bytes must not.
    for (let round = 0; round < 6; round++) {
      const name = `race-${round}.txt`;
      const [a, b] = [bytes(`first upload ${round} `.repeat(2000)), bytes(`second upload ${round} `.repeat(2100))];
      const answers = await Promise.all([j.artifact(name, a, await sha256(a)), j.artifact(name, b, await sha256(b))]);
      expect(answers.map((r) => r.status).sort()).toEqual([201, 409]);
      const winner = answers.find((r) => r.status === 201)!.json;
      const listed = (await api("GET", `/api/v1/artifacts?run=${run.id}&q=${name}`)).json.items;
      expect(listed).toHaveLength(1);
      expect(listed[0].sha256).toBe(winner.sha256);
      const got = bytes(await download(listed[0].id));
      expect(await sha256(got)).toBe(winner.sha256);
    }
  }, 30_000);

  it("a multipart upload's completion retried (its answer lost) answers the same record", async () => {
    const { token, jobAttemptId } = await runningJob("art-retry");
    const base = `/api/agent/v1/jobs/${jobAttemptId}`;
    const body = bytes("multipart bytes");
    const started = await api("POST", `${base}/artifact-uploads`, {
      token,
      body: { name: "out.bin", sha256: await sha256(body), size: body.byteLength, contentType: "application/octet-stream" },
    });
    const part = await api("PUT", `${base}/artifact-uploads/${started.json.uploadId}/parts/1`, {
      token,
      raw: body,
      headers: { "content-type": "application/octet-stream", "content-length": String(body.byteLength) },
    });
    const complete = () => api("POST", `${base}/artifact-uploads/${started.json.uploadId}/complete`, { token, body: { parts: [part.json] } });
    const first = await complete();
    expect(first.status).toBe(201);
    const again = await complete();
    expect(again.status).toBe(200);
    expect(again.json).toEqual(first.json);
    expect(await download(first.json.id)).toBe("multipart bytes");
  });

  it("a multipart upload completed after a PUT of the same name leaves the PUT's bytes alone", async () => {
    const { run, token, jobAttemptId } = await runningJob("art-multi");
    const base = `/api/agent/v1/jobs/${jobAttemptId}`;
    const late = bytes("the multipart upload's bytes, different and shorter");
    const started = await api("POST", `${base}/artifact-uploads`, {
      token,
      body: { name: "dist/app.bin", sha256: await sha256(late), size: late.byteLength, contentType: "application/octet-stream" },
    });
    expect(started.status).toBe(201);
    const part = await api("PUT", `${base}/artifact-uploads/${started.json.uploadId}/parts/1`, {
      token,
      raw: late,
      headers: { "content-type": "application/octet-stream", "content-length": String(late.byteLength) },
    });
    expect(part.status).toBe(200);

    // Meanwhile a single PUT of the same name lands and is recorded.
    const first = bytes("the first upload's bytes, which must survive\n".repeat(100));
    const put = await job(token, jobAttemptId).artifact("dist/app.bin", first, await sha256(first));
    expect(put.status).toBe(201);

    const completed = await api("POST", `${base}/artifact-uploads/${started.json.uploadId}/complete`, { token, body: { parts: [part.json] } });
    expect(completed.status).toBe(409);
    expect(completed.json.error.code).toBe("artifact_exists");
    const listed = (await api("GET", `/api/v1/artifacts?run=${run.id}`)).json.items;
    expect(listed).toHaveLength(1);
    expect(await download(listed[0].id)).toBe(new TextDecoder().decode(first));
  });
});

describe("artifact search", () => {
  it("takes `_`, `%` and `\\` literally", async () => {
    const { run, token, jobAttemptId } = await runningJob("art-search");
    const j = job(token, jobAttemptId);
    for (const name of ["coverage_report.txt", "coverageXreport.txt", "100%-done.txt", "1000-done.txt", "back\\slash.txt"]) {
      const body = bytes(name);
      expect((await j.artifact(name, body, await sha256(body))).status).toBe(201);
    }
    const search = async (q: string) =>
      (await api("GET", `/api/v1/artifacts?run=${run.id}&q=${encodeURIComponent(q)}`)).json.items.map((a: { name: string }) => a.name);
    expect(await search("coverage_report")).toEqual(["coverage_report.txt"]);
    expect(await search("100%")).toEqual(["100%-done.txt"]);
    expect(await search("k\\s")).toEqual(["back\\slash.txt"]);
  });
});
