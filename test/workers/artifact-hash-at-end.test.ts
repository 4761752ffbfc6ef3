// Issue 20 item 5: a multipart upload may give its SHA-256 with the complete (an agent that
// hashes the parts as they leave reads the file once) and ask for its part size; the server
// checks the stored bytes against it exactly as against one given at the start.
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, registerAgent, sha256 } from "./agent-client.ts";

const MiB = 1024 * 1024;

async function runningJob(slug: string) {
  await projectWithPipeline(slug, "jobs:\n  build:\n    runs-on: [linux]\n    steps:\n      - id: compile\n        run: make\n");
  const agent = await registerAgent(`${slug}-agent`, ["linux"]);
  await api("POST", `/api/v1/projects/${slug}/pipelines/build/runs`);
  const assignment = (await claim(agent.token, 0, 2)).json;
  const base = `/api/agent/v1/jobs/${assignment.job.attemptId}`;
  const token = assignment.token as string;
  return {
    start: (body: unknown) => api("POST", `${base}/artifact-uploads`, { token, body }),
    part: (uploadId: string, n: number, bytes: Uint8Array) =>
      api("PUT", `${base}/artifact-uploads/${uploadId}/parts/${n}`, {
        token,
        raw: bytes,
        headers: { "content-type": "application/octet-stream", "content-length": String(bytes.byteLength) },
      }),
    complete: (uploadId: string, body: unknown) => api("POST", `${base}/artifact-uploads/${uploadId}/complete`, { token, body }),
  };
}

const fileOf = (size: number) => {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >> 12)) & 0xff;
  return bytes;
};

async function uploadParts(j: Awaited<ReturnType<typeof runningJob>>, name: string, file: Uint8Array) {
  const started = await j.start({ name, size: file.byteLength, contentType: "application/octet-stream", partSize: 5 * MiB });
  expect(started.status, started.text).toBe(201);
  expect(started.json.partSize).toBe(5 * MiB);
  const { uploadId } = started.json;
  const parts = [];
  for (let n = 1, from = 0; from < file.byteLength; n++, from += 5 * MiB) {
    const part = await j.part(uploadId, n, file.subarray(from, from + 5 * MiB));
    expect(part.status, part.text).toBe(200);
    parts.push(part.json);
  }
  return { uploadId, parts };
}

describe("a multipart upload's SHA-256 given with its complete", () => {
  it("is checked against the stored bytes, in the part size asked for; the artifact downloads whole", async () => {
    const j = await runningJob("hash-at-end");
    const file = fileOf(5 * MiB + 1000);
    const { uploadId, parts } = await uploadParts(j, "big.bin", file);
    expect((await j.complete(uploadId, { parts })).json.error.code).toBe("sha256_required");
    const done = await j.complete(uploadId, { parts, sha256: await sha256(file) });
    expect(done.status, done.text).toBe(201);
    expect(done.json).toMatchObject({ name: "big.bin", size: file.byteLength, sha256: await sha256(file) });
    const res = await exports.default.fetch(`http://x/api/v1/artifacts/${done.json.id}/download`, { headers: { authorization: "Bearer test-admin-token" } });
    expect(await sha256(new Uint8Array(await res.arrayBuffer()))).toBe(await sha256(file));
  });

  it("a SHA-256 the bytes do not match keeps nothing; one unlike the start's is refused", async () => {
    const j = await runningJob("hash-at-end-bad");
    const file = fileOf(5 * MiB + 10);
    const { uploadId, parts } = await uploadParts(j, "bad.bin", file);
    const wrong = await j.complete(uploadId, { parts, sha256: "0".repeat(64) });
    expect([wrong.status, wrong.json.error.code]).toEqual([400, "sha256_mismatch"]);
    const declared = await j.start({ name: "declared.bin", size: 10, sha256: "1".repeat(64), contentType: "text/plain" });
    const other = await j.complete(declared.json.uploadId, { parts: [{ partNumber: 1, etag: "x" }], sha256: "2".repeat(64) });
    expect([other.status, other.json.error.code]).toEqual([400, "sha256_mismatch"]);
  });

  it("refuses a part size R2 would not take, and parts not of the size asked for", async () => {
    const j = await runningJob("hash-at-end-sizes");
    for (const partSize of [4 * MiB, 5 * MiB + 1, 65 * MiB]) {
      expect((await j.start({ name: "x.bin", size: 20 * MiB, contentType: "application/octet-stream", partSize })).status).toBe(400);
    }
    const started = await j.start({ name: "x.bin", size: 20 * MiB, contentType: "application/octet-stream", partSize: 8 * MiB });
    const short = await j.part(started.json.uploadId, 1, new Uint8Array(5 * MiB));
    expect([short.status, short.json.error.code]).toEqual([400, "part_size"]);
  });
});
