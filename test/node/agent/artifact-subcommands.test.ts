/**
 * `yardmaster-agent artifact upload|download` inside a step (issue 18): uploads at once with the
 * job's token; downloads this run's artifacts, verified against their SHA-256, through a
 * temporary file that never stays behind. Real processes, real files, a real HTTP server.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { JobAssignment } from "../../../domain/protocol.ts";
import { ONE_READ_PUT_MAX_BYTES } from "../../../agent/artifacts.ts";
import { agentEntry } from "../../../agent/step-shim.ts";
import { runSubcommand } from "../../../agent/subcommands.ts";
import { final, eachTestServer, runJob } from "./helpers.ts";
import { makeAssignment, type ProtocolServer } from "./protocol-server.ts";
import { type DownloadFault, serveRunArtifacts } from "./run-artifacts-routes.ts";

const ctx = eachTestServer();

const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

/** Runs `yardmaster-agent <argv>` as `job`'s step would, from `cwd`; answers the exit code and output. */
async function agentCommand(server: ProtocolServer, job: JobAssignment, cwd: string, argv: string[], progressMinBytes?: number, more: Record<string, string> = {}) {
  const out = { stdout: "", stderr: "" };
  const io = { stdout: (t: string) => void (out.stdout += t), stderr: (t: string) => void (out.stderr += t), stdin: async () => "" };
  const env = { YM_URL: server.url, YM_JOB_TOKEN: job.token, YM_JOB_ATTEMPT_ID: job.job.attemptId, ...more };
  const code = await runSubcommand(argv, env, io, { cwd, ...(progressMinBytes !== undefined ? { progressMinBytes } : {}) });
  return { code, ...out };
}

/** A running job of key `key` that has uploaded `files` (name → bytes). */
function jobWith(key: string, files: Record<string, Buffer | string> = {}) {
  const job = makeAssignment();
  job.job.key = key;
  const record = ctx.server.addJob(job);
  for (const [name, content] of Object.entries(files)) {
    const body = Buffer.from(content);
    record.artifacts.set(name, { name, sha256: sha(body), size: body.length, contentType: "text/plain", body, multipart: false });
  }
  return job;
}

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

describe("artifact upload and download inside a job's steps", () => {
  it("a step uploads at once; a later step of the job downloads it and its sha256 matches", async () => {
    serveRunArtifacts(ctx.server);
    const job = makeAssignment({
      steps: [
        { id: "build", run: "mkdir -p dist && printf 'built bytes\\n' > dist/app.txt && yardmaster-agent artifact upload 'dist/*.txt'" },
        {
          id: "check",
          run: [
            "yardmaster-agent artifact download 'dist/*' --to got",
            `echo "sum=$(sha256sum got/dist/app.txt | cut -d' ' -f1)" >> "$YM_OUTPUT"`,
          ].join("\n"),
        },
      ],
    });
    job.steps[1]!.needs = ["build"];
    const record = ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);
    expect(r.outcome.status, r.log).toBe("SUCCESS");
    expect([...record.artifacts.keys()]).toEqual(["dist/app.txt"]);
    expect(r.log).toContain(`uploaded dist/app.txt (12 bytes, sha256 ${sha("built bytes\n")})`);
    expect(r.log).toMatch(/downloaded dist\/app\.txt from job test \(12 bytes, sha256 [0-9a-f]{64}\) to .*got\/dist\/app\.txt/);
    expect(final(r.steps, "check")!.outputs!.sum).toBe(sha("built bytes\n"));
  });
});

describe("artifact upload", () => {
  it("refuses, uploading nothing, when a glob matches nothing", async () => {
    const job = jobWith("build");
    await writeFile(path.join(ctx.dir, "a.txt"), "a");
    const r = await agentCommand(ctx.server, job, ctx.dir, ["artifact", "upload", "a.txt", "missing/*.bin"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`no files match the artifact pattern "missing/*.bin"`);
    expect(r.stderr).toContain("nothing was uploaded");
    expect(ctx.server.job(job.job.attemptId).artifacts.size).toBe(0);
  });

  it("under protocol 2 (YM_AGENT_PROTOCOL, which every step has) reads a file once: its SHA-256 goes with the multipart complete; otherwise it is hashed first", async () => {
    // Over the size read whole into one PUT, so the two ways differ on the wire.
    const bytes = randomBytes(ONE_READ_PUT_MAX_BYTES + 1);
    await writeFile(path.join(ctx.dir, "big.bin"), bytes);
    for (const [protocol, readOnce] of [["2", true], ["1", false], [undefined, false]] as const) {
      const job = jobWith("build");
      const record = ctx.server.jobs.get(job.job.attemptId)!;
      const r = await agentCommand(ctx.server, job, ctx.dir, ["artifact", "upload", "big.bin"], undefined, protocol ? { YM_AGENT_PROTOCOL: protocol } : {});
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`uploaded big.bin (${bytes.length} bytes, sha256 ${sha(bytes)})`);
      const stored = record.artifacts.get("big.bin")!;
      // The old way sends it as one PUT declared with its hash; read once, in parts hashed as sent.
      expect([stored.multipart, stored.sha256AtComplete === true, stored.sha256, stored.body.equals(bytes)]).toEqual([readOnce, readOnce, sha(bytes), true]);
    }
  });

  it("refuses a file over the artifact limit before reading it", async () => {
    const job = jobWith("build");
    // Sparse: 6 GiB on paper, nothing on disk, never read.
    const { execFileSync } = await import("node:child_process");
    execFileSync("truncate", ["-s", "6G", path.join(ctx.dir, "huge.bin")]);
    const r = await agentCommand(ctx.server, job, ctx.dir, ["artifact", "upload", "*.bin"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`huge.bin is ${6 * 1024 ** 3} bytes, over the ${5 * 1024 ** 3}-byte artifact limit`);
    expect(ctx.server.job(job.job.attemptId).artifacts.size).toBe(0);
  });

  it("says so when the job has ended (its token no longer works), and takes no options", async () => {
    const job = jobWith("build");
    await writeFile(path.join(ctx.dir, "a.txt"), "a");
    ctx.server.job(job.job.attemptId).finish = { status: "SUCCESS", outputs: {} };
    const ended = await agentCommand(ctx.server, job, ctx.dir, ["artifact", "upload", "a.txt"]);
    expect(ended.code).toBe(1);
    expect(ended.stderr).toContain("job_ended");
    expect((await agentCommand(ctx.server, job, ctx.dir, ["artifact", "upload"])).code).toBe(2);
    expect((await agentCommand(ctx.server, job, ctx.dir, ["artifact", "upload", "--to", "x"])).code).toBe(2);
  });
});

describe("artifact download", () => {
  it("fetches matching artifacts of any job into --to, keeping their names; --job narrows to one job", async () => {
    serveRunArtifacts(ctx.server);
    jobWith("build", { "dist/app.bin": "app", "dist/lib.bin": "lib", "notes.txt": "notes" });
    jobWith("docs", { "site/index.html": "<html>" });
    const me = jobWith("deploy");
    const r = await agentCommand(ctx.server, me, ctx.dir, ["artifact", "download", "dist/**", "site/*", "--to", "in"]);
    expect(r.code, r.stderr).toBe(0);
    expect(await filesUnder(path.join(ctx.dir, "in"))).toEqual(["dist/app.bin", "dist/lib.bin", "site/index.html"]);
    expect(await readFile(path.join(ctx.dir, "in/dist/lib.bin"), "utf8")).toBe("lib");
    expect(r.stdout).toContain(`downloaded site/index.html from job docs (6 bytes, sha256 ${sha("<html>")})`);

    const only = await agentCommand(ctx.server, me, ctx.dir, ["artifact", "download", "**", "--job=docs", "--to=docs-only"]);
    expect(only.code, only.stderr).toBe(0);
    expect(await filesUnder(path.join(ctx.dir, "docs-only"))).toEqual(["site/index.html"]);
  });

  it("refuses, fetching nothing, when nothing matches or two jobs uploaded the same name", async () => {
    serveRunArtifacts(ctx.server);
    jobWith("linux", { "report.xml": "linux" });
    jobWith("mac", { "report.xml": "mac" });
    const me = jobWith("summary");
    const none = await agentCommand(ctx.server, me, ctx.dir, ["artifact", "download", "*.zip"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`no artifact of this run matches "*.zip" (it has report.xml)`);
    const clash = await agentCommand(ctx.server, me, ctx.dir, ["artifact", "download", "*.xml"]);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain(`"report.xml" was uploaded by 2 jobs (linux, mac): choose one with --job KEY`);
    expect(await filesUnder(ctx.dir)).toEqual([]);
    const chosen = await agentCommand(ctx.server, me, ctx.dir, ["artifact", "download", "*.xml", "--job", "mac"]);
    expect(chosen.code, chosen.stderr).toBe(0);
    expect(await readFile(path.join(ctx.dir, "report.xml"), "utf8")).toBe("mac");
  });

  it("bytes that do not match the sha256: exit 1, the partial file removed, an older file left alone", async () => {
    serveRunArtifacts(ctx.server, new Map<string, DownloadFault>([["data.bin", "corrupt"]]));
    jobWith("build", { "data.bin": "the real bytes" });
    const me = jobWith("use");
    await writeFile(path.join(ctx.dir, "data.bin"), "what was here before");
    const r = await agentCommand(ctx.server, me, ctx.dir, ["artifact", "download", "data.bin"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`data.bin does not match what was uploaded`);
    expect(r.stderr).toContain(`expected 14 bytes, sha256 ${sha("the real bytes")}): the partial file was removed`);
    expect(await filesUnder(ctx.dir)).toEqual(["data.bin"]);
    expect(await readFile(path.join(ctx.dir, "data.bin"), "utf8")).toBe("what was here before");
  });

  it("a connection broken half way is tried again from the start; giving up leaves nothing behind", async () => {
    const body = Buffer.alloc(256 * 1024, 7);
    const downloads = serveRunArtifacts(
      ctx.server,
      new Map<string, DownloadFault>([
        ["flaky.bin", { drop: 1 }],
        ["broken.bin", { drop: 99 }],
      ]),
    );
    jobWith("build", { "flaky.bin": body, "broken.bin": body });
    const me = jobWith("use");
    const flaky = await agentCommand(ctx.server, me, ctx.dir, ["artifact", "download", "flaky.bin"]);
    expect(flaky.code, flaky.stderr).toBe(0);
    expect(downloads.get("flaky.bin")).toBe(2);
    expect(flaky.stdout).toContain("flaky.bin: the connection broke after");
    expect(sha(await readFile(path.join(ctx.dir, "flaky.bin")))).toBe(sha(body));

    const broken = await agentCommand(ctx.server, me, ctx.dir, ["artifact", "download", "broken.bin", "--to", "out"]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain("downloading broken.bin failed 3 times");
    expect(await filesUnder(path.join(ctx.dir, "out"))).toEqual([]);
  });

  it("stopped by SIGTERM mid-download (a cancelled step), it removes its temporary file", async () => {
    serveRunArtifacts(ctx.server, new Map<string, DownloadFault>([["slow.bin", "stall"]]));
    jobWith("build", { "slow.bin": Buffer.alloc(512 * 1024, 3) });
    const me = jobWith("use");
    const { node, args } = agentEntry();
    const child = spawn(node, [...args, "artifact", "download", "slow.bin"], {
      cwd: ctx.dir,
      env: { ...process.env, YM_URL: ctx.server.url, YM_JOB_TOKEN: me.token, YM_JOB_ATTEMPT_ID: me.job.attemptId },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    // Half the bytes arrived and sit in the temporary file: then the signal.
    for (let i = 0; i < 200 && (await readdir(ctx.dir)).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await readdir(ctx.dir)).toEqual([`.slow.bin.ym-download-${child.pid}`]);
    child.kill("SIGTERM");
    expect(await exited).toBe(1);
    expect(stderr).toContain("stopped by a signal");
    expect(await readdir(ctx.dir)).toEqual([]);
  });

  it("never writes outside --to, whatever name the server gives", async () => {
    serveRunArtifacts(ctx.server);
    jobWith("build", { "../escape.txt": "out of bounds" });
    const me = jobWith("use");
    const r = await agentCommand(ctx.server, me, ctx.dir, ["artifact", "download", "../*", "--to", "in"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the server named an artifact "../escape.txt", which is not a relative path: not written`);
    expect(existsSync(path.join(ctx.dir, "escape.txt"))).toBe(false);
  });

  it("prints progress for a large file", async () => {
    serveRunArtifacts(ctx.server);
    const big = Buffer.alloc(4 * 1024 * 1024, 1);
    jobWith("build", { "big.bin": big });
    const me = jobWith("use");
    const r = await agentCommand(ctx.server, me, ctx.dir, ["artifact", "download", "big.bin"], 1024 * 1024);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("big.bin: 50% (");
    expect(r.stdout).toContain("of 4.0 MiB)");
    expect(sha(await readFile(path.join(ctx.dir, "big.bin")))).toBe(sha(big));
  });

  it("usage mistakes are exit 2 with the usage; outside a step it says what is missing", async () => {
    const me = jobWith("use");
    for (const argv of [["artifact", "download"], ["artifact", "download", "x", "--job"], ["artifact", "download", "x", "--into", "d"], ["artifact", "fetch", "x"]]) {
      const r = await agentCommand(ctx.server, me, ctx.dir, argv);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.stderr).toContain("artifact download GLOB…");
    }
    const out = { stderr: "" };
    const code = await runSubcommand(["artifact", "download", "x"], {}, { stdout: () => {}, stderr: (t) => void (out.stderr += t), stdin: async () => "" });
    expect(code).toBe(2);
    expect(out.stderr).toContain("YM_URL, YM_JOB_TOKEN and YM_JOB_ATTEMPT_ID are not set");
    expect(existsSync(path.join(ctx.dir, "x"))).toBe(false);
  });
});
