import { mkdir, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { expandArtifacts, OutsideWorkDirError, uploadArtifact } from "../../../agent/artifacts.ts";
import { runJob, testApi, eachTestServer } from "./helpers.ts";
import { makeAssignment } from "./protocol-server.ts";

const ctx = eachTestServer();

describe("artifacts never follow a link out of the job's work dir (issue 13: `dist/x -> ~/.ssh/id_rsa`)", () => {
  it("a link to a file or a directory outside is not uploaded, is named in the log and makes the job WARNING; links inside are followed", async () => {
    // Outside the job's work dir (<workDir>/jobs/<attempt>), like ~/.ssh or the agent's own token.
    const home = path.join(ctx.dir, "home");
    await mkdir(path.join(home, ".ssh"), { recursive: true });
    const key = "-----BEGIN OPENSSH PRIVATE KEY----- not for upload";
    await writeFile(path.join(home, ".ssh", "id_rsa"), key);
    await writeFile(path.join(home, ".ssh", "config"), key);

    const job = makeAssignment({
      steps: [
        {
          id: "build",
          run: [
            "mkdir -p dist docs",
            "echo built > dist/app.js",
            "echo readme > docs/README.txt",
            `ln -s '${home}/.ssh/id_rsa' dist/id_rsa`, // absolute, to a file outside
            `ln -s ../../../home/.ssh dist/ssh`, // relative, to a directory outside
            "ln -s ../docs/README.txt dist/readme.txt", // to a file inside: followed
            "ln -s ../docs dist/docs", // to a directory inside: followed
            "ln -s ../nowhere dist/dangling",
          ].join("\n"),
        },
      ],
      artifacts: ["dist/**", "dist/ssh/*", "dist/ssh"],
    });
    const record = ctx.server.addJob(job);
    const r = await runJob(ctx.server, job, ctx.dir);

    expect([...record.artifacts.keys()].sort()).toEqual(["dist/app.js", "dist/docs/README.txt", "dist/readme.txt"]);
    expect(record.artifacts.get("dist/readme.txt")!.body.toString()).toBe("readme\n");
    for (const a of record.artifacts.values()) expect(a.body.toString()).not.toContain(key);

    for (const name of ["dist/id_rsa", "dist/ssh", "dist/ssh/id_rsa", "dist/ssh/config"]) {
      expect(r.log).toContain(`artifact "${name}" not uploaded: it is a symbolic link (or lies under one) that resolves outside the job's work dir`);
    }
    expect(r.log).not.toContain(home); // where the link points is not shown to the log's readers
    expect(record.finish).toMatchObject({ status: "WARNING", reason: "artifacts_failed", message: "4 artifact(s) could not be uploaded" });
  });

  it("a file swapped for a link after the glob is refused when it is read", async () => {
    const jobDir = path.join(ctx.dir, "job");
    await mkdir(path.join(jobDir, "dist"), { recursive: true });
    await writeFile(path.join(ctx.dir, "secret.txt"), "outside");
    await writeFile(path.join(jobDir, "dist", "app.js"), "built");
    const { files } = await expandArtifacts(["dist/*"], jobDir);
    expect(files.map((f) => f.name)).toEqual(["dist/app.js"]);
    await rm(path.join(jobDir, "dist", "app.js"));
    await symlink(path.join(ctx.dir, "secret.txt"), path.join(jobDir, "dist", "app.js"));

    const job = makeAssignment();
    const record = ctx.server.addJob(job);
    const api = testApi(ctx.server);
    const upload = uploadArtifact(files[0]!, { api: api.job(job.token, job.job.attemptId), signal: new AbortController().signal, maxBytes: 1000 });
    await expect(upload).rejects.toBeInstanceOf(OutsideWorkDirError);
    api.http.close();
    expect(record.artifacts.size).toBe(0);
  });
});
