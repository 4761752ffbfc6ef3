/**
 * PUT/GET pipelines: a file is checked whole; a refusal is a 400 naming each problem's line and
 * column and stores nothing; every version is kept by content hash.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { api, PIPELINE } from "./api-client.ts";

const put = (name: string, text: string | Uint8Array, headers: Record<string, string> = { "content-type": "text/plain" }, project = "pipes") =>
  api("PUT", `/api/v1/projects/${project}/pipelines/${name}`, { raw: text, headers });

async function storedVersions(name: string): Promise<number> {
  const row = await env.DB.prepare(
    "SELECT count(*) AS n FROM pipeline_versions v JOIN pipelines p ON p.id = v.pipeline_id JOIN projects pr ON pr.id = p.project_id WHERE pr.slug = 'pipes' AND p.name = ?",
  )
    .bind(name)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/** Each problem's line and column point at the text at fault. */
function pointsAt(text: string, problem: { line: number; column: number }, expected: string) {
  const line = text.split("\n")[problem.line - 1] ?? "";
  expect(line.slice(problem.column - 1).startsWith(expected), `line ${problem.line} col ${problem.column} of ${JSON.stringify(line)}`).toBe(true);
}

beforeAll(async () => {
  expect((await api("POST", "/api/v1/projects", { body: { slug: "pipes" } })).status).toBe(201);
});

describe("storing pipelines", () => {
  it("stores version 1, refuses nothing new for the same content, keeps both versions when it changes", async () => {
    const first = await put("build", PIPELINE);
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({ project: "pipes", name: "build", jobs: ["test", "deploy"], changed: true, version: { version: 1 } });
    const bytes = new TextEncoder().encode(PIPELINE);
    const hash = [...new Uint8Array(await crypto.subtle.digest("SHA-256", bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
    expect(first.json.version.hash).toBe(hash);

    const again = await put("build", PIPELINE);
    expect(again.status).toBe(200);
    expect(again.json.changed).toBe(false);
    expect(again.json.version).toEqual(first.json.version);
    expect(await storedVersions("build")).toBe(1);

    const changed = PIPELINE.replace("echo unit", "echo unit --coverage");
    const second = await put("build", changed);
    expect(second.status).toBe(201);
    expect(second.json.version.version).toBe(2);
    expect(second.json.id).toBe(first.json.id);

    const read = await api("GET", "/api/v1/projects/pipes/pipelines/build");
    expect(read.status).toBe(200);
    expect(read.json.content).toBe(changed);
    expect(read.json.version.version).toBe(2);
    expect(read.json.versions.map((v: any) => v.version)).toEqual([2, 1]);
    expect(read.json.definition.jobs.map((j: any) => j.key)).toEqual(["test", "deploy"]);
    expect(await storedVersions("build")).toBe(2);

    // Going back to version 1's content makes version 1 current again: no duplicate version.
    const back = await put("build", PIPELINE);
    expect(back.status).toBe(200);
    expect(back.json).toMatchObject({ changed: true, version: { version: 1, hash } });
    const after = (await api("GET", "/api/v1/projects/pipes/pipelines/build")).json;
    expect(after.content).toBe(PIPELINE);
    expect(after.versions.map((v: any) => v.version)).toEqual([2, 1]);

    // A run uses the current version.
    const run = await api("POST", "/api/v1/projects/pipes/pipelines/build/runs", { body: {} });
    expect(run.json.pipelineVersionId).toBe(first.json.version.id);
  });

  it("lists a project's pipelines with their current versions", async () => {
    await put("zeta", PIPELINE);
    await put("alpha", PIPELINE.replace("name: build", "name: alpha"));
    const list = await api("GET", "/api/v1/projects/pipes/pipelines");
    expect(list.status).toBe(200);
    const names = list.json.items.map((p: any) => p.name);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(["alpha", "zeta"]));
    expect(list.json.items.find((p: any) => p.name === "alpha")).toMatchObject({ project: "pipes", jobs: ["test", "deploy"], version: { version: 1 } });
  });

  it("takes the file as text/plain, application/yaml or with no type; refuses a multipart form with 415", async () => {
    expect((await put("typed-yaml", PIPELINE, { "content-type": "application/yaml" })).status).toBe(201);
    expect((await put("typed-none", new TextEncoder().encode(PIPELINE), {})).status).toBe(201);
    const form = new FormData();
    form.append("file", new Blob([PIPELINE]), "build.act");
    const multipart = await api("PUT", "/api/v1/projects/pipes/pipelines/typed-form", { raw: form });
    expect(multipart.status).toBe(415);
    expect(multipart.json.error.code).toBe("unsupported_media_type");
    expect(multipart.json.error.message).toContain("--data-binary");
    expect((await api("GET", "/api/v1/projects/pipes/pipelines/typed-form")).status).toBe(404);
  });

  it("two uploads at the same time never fail with a 500: both land or one answers 'unchanged'", async () => {
    const same = await Promise.all([1, 2, 3].map(() => put("race", PIPELINE)));
    expect(same.map((r) => r.status).sort()).toEqual([200, 200, 201]);
    const different = await Promise.all([1, 2, 3].map((n) => put("race", `${PIPELINE}# edit ${n}\n`)));
    expect(different.map((r) => r.status)).toEqual([201, 201, 201]);
    expect(different.map((r) => r.json.version.version).sort()).toEqual([2, 3, 4]);
    expect(await storedVersions("race")).toBe(4);
  });
});

describe("refusing a pipeline: 400 with each problem's line and column, nothing stored", () => {
  const cases: { name: string; text: string; message: RegExp; at: string }[] = [
    {
      name: "unknown-needs",
      text: "jobs:\n  build:\n    runs-on: [linux]\n    needs: [nope]\n    steps:\n      - run: make\n",
      message: /unknown job "nope"/,
      at: "nope",
    },
    {
      name: "cycle",
      text: "jobs:\n  a:\n    runs-on: [linux]\n    needs: [c]\n    steps: [{run: x}]\n  b:\n    runs-on: [linux]\n    needs: [a]\n    steps: [{run: x}]\n  c:\n    runs-on: [linux]\n    needs: [b]\n    steps: [{run: x}]\n",
      message: /cycle: a → c → b → a/,
      at: "c]",
    },
    {
      name: "duplicate-job",
      text: "jobs:\n  build:\n    runs-on: [linux]\n    steps: [{run: x}]\n  build:\n    runs-on: [linux]\n    steps: [{run: y}]\n",
      message: /duplicate key "build"/,
      at: "build:",
    },
    {
      name: "duplicate-step",
      text: "jobs:\n  build:\n    runs-on: [linux]\n    steps:\n      - id: s\n        run: x\n      - id: s\n        run: y\n",
      message: /duplicate step id "s"/,
      at: "s",
    },
    { name: "empty-jobs", text: "name: x\njobs: {}\n", message: /at least one job/, at: "{}" },
    {
      name: "no-steps",
      text: "jobs:\n  build:\n    runs-on: [linux]\n    steps: []\n",
      message: /at least one step/,
      at: "[]",
    },
    {
      name: "bad-duration",
      text: "jobs:\n  build:\n    runs-on: [linux]\n    timeout: 10 parsecs\n    steps: [{run: x}]\n",
      message: /"10 parsecs" is not a duration/,
      at: "10 parsecs",
    },
    {
      name: "bad-template",
      text: "jobs:\n  build:\n    runs-on: [linux]\n    steps:\n      - run: echo ${{ needs.deploy.outputs.v }}\n",
      message: /unknown job "deploy"/,
      at: "${{ needs.deploy",
    },
    {
      name: "unclosed-template",
      text: "jobs:\n  build:\n    runs-on: [linux]\n    steps:\n      - run: echo ${{ steps.x.outputs\n",
      message: /unclosed \$\{\{/,
      at: "${{",
    },
    { name: "yaml-syntax", text: "jobs:\n  build:\n    runs-on: [linux\n    steps: []\n", message: /^YAML: /, at: "steps" },
  ];

  it.each(cases)("$name", async ({ name, text, message, at }) => {
    const res = await put(name, text);
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe("invalid_pipeline");
    const [problem, ...rest] = res.json.error.details.problems;
    expect(rest).toEqual([]);
    expect(problem.message).toMatch(message);
    pointsAt(text, problem, at);
    expect(res.json.error.message).toContain(`line ${problem.line}, column ${problem.column}`);
    expect((await api("GET", `/api/v1/projects/pipes/pipelines/${name}`)).status).toBe(404);
    expect(await storedVersions(name)).toBe(0);
  });

  it("lists every problem of a file, each where it is", async () => {
    const text = "jobs:\n  build:\n    runs-on: [linux]\n    timeout: soon\n    retries: -1\n    steps: [{run: x}]\n";
    const res = await put("several", text);
    expect(res.status).toBe(400);
    const problems = res.json.error.details.problems;
    expect(problems.map((p: any) => [p.line, p.column])).toEqual([
      [4, 14],
      [5, 14],
    ]);
    pointsAt(text, problems[0], "soon");
    pointsAt(text, problems[1], "-1");
    expect(res.json.error.message).toMatch(/^2 problems in the pipeline file/);
  });

  it("a bad new version leaves the stored one current and adds no version", async () => {
    expect((await put("kept", PIPELINE)).status).toBe(201);
    const bad = await put("kept", `${PIPELINE}    needs: [ghost]\n`);
    expect(bad.status).toBe(400);
    const read = (await api("GET", "/api/v1/projects/pipes/pipelines/kept")).json;
    expect(read.content).toBe(PIPELINE);
    expect(read.versions).toHaveLength(1);
  });

  it("refuses a file that is not UTF-8 (400), over its limit (413), or over the body limit (413)", async () => {
    const latin1 = await put("latin1", new Uint8Array([0x6a, 0x6f, 0x62, 0x73, 0x3a, 0x20, 0xe9, 0x0a]));
    expect(latin1.status).toBe(400);
    expect(latin1.json.error.code).toBe("invalid_encoding");

    const big = await put("big", `${PIPELINE}${"#".repeat(300 * 1024)}\n`);
    expect(big.status).toBe(413);
    expect(big.json.error).toMatchObject({ code: "pipeline_too_large", message: expect.stringContaining("262144 bytes") });

    const huge = await put("huge", `${PIPELINE}${"#".repeat(2 * 1024 * 1024)}\n`);
    expect(huge.status).toBe(413);
    expect(huge.json.error.code).toBe("body_too_large");
    for (const name of ["latin1", "big", "huge"]) expect(await storedVersions(name)).toBe(0);
  });

  it("answers 404 for an unknown project or pipeline, 400 for a bad name", async () => {
    const noProject = await put("build", PIPELINE, { "content-type": "text/plain" }, "ghost-project");
    expect(noProject.status).toBe(404);
    expect(noProject.json.error.code).toBe("project_not_found");
    expect((await api("GET", "/api/v1/projects/ghost-project/pipelines")).json.error.code).toBe("project_not_found");
    const noPipeline = await api("GET", "/api/v1/projects/pipes/pipelines/ghost");
    expect(noPipeline.status).toBe(404);
    expect(noPipeline.json.error.code).toBe("pipeline_not_found");
    const badName = await put("-dash", PIPELINE);
    expect(badName.status).toBe(400);
    expect(badName.json.error.details.issues[0].path).toBe("pipeline");
  });
});
