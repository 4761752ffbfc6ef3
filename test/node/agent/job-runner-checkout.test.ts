/** The job runner with real processes and a real git repository: checkout, and artifact uploads. */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { uploadArtifact } from "../../../agent/artifacts.ts";
import { eachTestServer, final, runJob, testApi } from "./helpers.ts";
import { makeAssignment } from "./protocol-server.ts";

const ctx = eachTestServer();

describe("job runner: checkout and artifacts", () => {
  it("checks out the run's commit, or its branch", async () => {
    const repo = path.join(ctx.dir, "repo");
    await mkdir(repo);
    const git = (...args: string[]) => execFileSync("git", ["-C", repo, ...args], { encoding: "utf8" }).trim();
    git("init", "-q", "-b", "main");
    git("config", "user.email", "t@example.com");
    git("config", "user.name", "t");
    await writeFile(path.join(repo, "file.txt"), "one\n");
    git("add", ".");
    git("commit", "-qm", "one");
    const first = git("rev-parse", "HEAD");
    git("checkout", "-qb", "feature");
    await writeFile(path.join(repo, "file.txt"), "feature\n");
    git("commit", "-qam", "two");
    git("checkout", "-q", "main");

    const step = { id: "read", run: 'echo "content=$(cat file.txt)" >> "$YM_OUTPUT"; echo "head=$(git rev-parse HEAD)" >> "$YM_OUTPUT"' };
    const byCommit = makeAssignment({ repository: repo, steps: [step] });
    byCommit.run.commit = first;
    byCommit.run.branch = "feature";
    ctx.server.addJob(byCommit);
    const r1 = await runJob(ctx.server, byCommit, path.join(ctx.dir, "w1"));
    expect(final(r1.steps, "read")!.outputs).toEqual({ content: "one", head: first });

    const byBranch = makeAssignment({ repository: repo, steps: [step] });
    byBranch.run.branch = "feature";
    ctx.server.addJob(byBranch);
    const r2 = await runJob(ctx.server, byBranch, path.join(ctx.dir, "w2"));
    expect(final(r2.steps, "read")!.outputs!.content).toBe("feature");
    expect(r2.log).toContain("▶ checkout");

    const broken = makeAssignment({ repository: path.join(ctx.dir, "nope"), steps: [step] });
    ctx.server.addJob(broken);
    const r3 = await runJob(ctx.server, broken, path.join(ctx.dir, "w3"));
    expect(ctx.server.job(broken.job.attemptId).finish).toMatchObject({ status: "FAILED", reason: "checkout_failed" });
    expect(final(r3.steps, "read")).toMatchObject({ status: "KILLED", reason: "checkout_failed" });
  });

  it("uploads the artifacts' globs with their SHA-256; a pattern without match is a warning", async () => {
    const job = makeAssignment({
      steps: [
        {
          id: "make",
          run: "mkdir -p out/sub; echo hello > out/a.txt; head -c 300000 /dev/urandom > out/sub/b.bin; echo x > out/skip.txt; echo '{}' > report.json",
        },
      ],
      artifacts: ["out/**", "report.json", "!out/skip.txt", "missing/*.xml"],
    });
    const record = ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(r.outcome.status).toBe("SUCCESS");
    expect([...record.artifacts.keys()].sort()).toEqual(["out/a.txt", "out/sub/b.bin", "report.json"]);
    const a = record.artifacts.get("out/a.txt")!;
    expect(a).toMatchObject({ size: 6, contentType: "text/plain; charset=utf-8", sha256: createHash("sha256").update("hello\n").digest("hex") });
    expect(record.artifacts.get("out/sub/b.bin")!.size).toBe(300000);
    expect(record.artifacts.get("report.json")!.contentType).toBe("application/json");
    expect(r.log).toContain('no files match the artifact pattern "missing/*.xml"');
  });

  it("a file over the artifact size limit is a warning and makes the job WARNING", async () => {
    const job = makeAssignment({
      steps: [{ id: "make", run: "head -c 100 /dev/zero > big.bin; echo ok > small.txt" }],
      artifacts: ["*.bin", "small.txt"],
      limits: { logChunkBytes: 1024 * 1024, artifactBytes: 50 },
    });
    const record = ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect([...record.artifacts.keys()]).toEqual(["small.txt"]);
    expect(r.log).toMatch(/artifact big\.bin not uploaded: .*limit/);
    expect(record.finish).toMatchObject({ status: "WARNING", reason: "artifacts_failed" });
  });

  it("uploads a large file in parts, streamed", async () => {
    const job = makeAssignment();
    const record = ctx.server.addJob(job);
    ctx.server.partSize = 64 * 1024;
    const file = path.join(ctx.dir, "big.bin");
    const content = Buffer.alloc(300_000);
    for (let i = 0; i < content.length; i++) content[i] = (i * 7) & 0xff;
    await writeFile(file, content);
    const api = testApi(ctx.server);
    await uploadArtifact(
      { name: "big.bin", path: file, size: content.length },
      { api: api.job(job.token, job.job.attemptId), signal: new AbortController().signal, maxBytes: 10_000_000, singlePutMaxBytes: 100_000 },
    );
    api.http.close();
    const art = record.artifacts.get("big.bin")!;
    expect(art.multipart).toBe(true);
    expect(art.body.equals(content)).toBe(true);
    expect([...record.uploads.values()][0]!.parts.size).toBe(5);
  });

  it("fails a multipart upload whose part is refused, and never completes it", async () => {
    const job = makeAssignment();
    const record = ctx.server.addJob(job);
    ctx.server.partSize = 64 * 1024;
    ctx.server.partFaults.set(3, 422);
    const file = path.join(ctx.dir, "big.bin");
    await writeFile(file, Buffer.alloc(300_000, 7));
    const api = testApi(ctx.server);
    const upload = uploadArtifact(
      { name: "big.bin", path: file, size: 300_000 },
      { api: api.job(job.token, job.job.attemptId), signal: new AbortController().signal, maxBytes: 10_000_000, singlePutMaxBytes: 100_000 },
    );
    await expect(upload).rejects.toThrow(/part 3 refused/);
    api.http.close();
    expect(record.artifacts.has("big.bin")).toBe(false);
    // The sender that met the refusal stopped there; the other sent at most the part it held.
    expect([...record.uploads.values()][0]!.parts.has(3)).toBe(false);
  });
});
