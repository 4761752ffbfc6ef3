/**
 * PATCH /api/v1/projects/:project, DELETE /api/v1/projects/:project and
 * DELETE /api/v1/projects/:project/pipelines/:pipeline: their effects and their refusals, on the
 * real worker with D1, R2 and the RunObjects.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, job, registerAgent, sha256 } from "./agent-client.ts";

const ONE_JOB = (label: string) => `jobs:
  build:
    runs-on: [${label}]
    steps:
      - id: make
        run: make
`;

async function token(scopes: string[], projects?: string[]) {
  const res = await api("POST", "/api/v1/tokens", { body: { name: `t-${scopes.join("-")}`, scopes, ...(projects ? { projects } : {}) } });
  expect(res.status, res.text).toBe(201);
  return res.json.token as string;
}

describe("PATCH /api/v1/projects/:project", () => {
  it("changes name, repository, statuses, retention and the webhook secret; fields left out keep their value", async () => {
    await projectWithPipeline("set-ok");
    const res = await api("PATCH", "/api/v1/projects/set-ok", {
      body: {
        name: "Settings OK",
        repository: "https://github.com/acme/api.git",
        statuses: { github: "acme/api" },
        retention: { runs: 30, logs: 7 },
        webhookSecret: "a-brand-new-webhook-secret",
      },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ slug: "set-ok", name: "Settings OK", repository: "https://github.com/acme/api.git", statuses: { github: "acme/api" }, retention: { runs: 30, logs: 7 }, statusesError: null });
    expect(JSON.stringify(res.json)).not.toContain("a-brand-new-webhook-secret");
    // The new webhook secret is the one webhooks are checked against.
    const hook = (secret: string) => api("POST", "/api/v1/webhooks/generic/set-ok/build", { token: secret, body: {} });
    expect((await hook("a-brand-new-webhook-secret")).status).toBe(201);

    const later = await api("PATCH", "/api/v1/projects/set-ok", { body: { statuses: null, repository: null } });
    expect(later.json).toMatchObject({ name: "Settings OK", repository: null, statuses: null, retention: { runs: 30, logs: 7 } });
    expect((await api("GET", "/api/v1/projects/set-ok")).json).toEqual(later.json);
    // Recorded, naming the fields changed and never the secret.
    const audit = await env.DB.prepare("SELECT action, target FROM audit_events WHERE project = 'set-ok' AND action = 'project.update' ORDER BY at").all<{ action: string; target: string }>();
    expect(audit.results.map((r) => r.target)).toEqual(["name,repository,retention,statuses,webhookSecret", "repository,statuses"]);
    expect(JSON.stringify(audit.results)).not.toContain("a-brand-new-webhook-secret");
  });

  it("refuses what it cannot take, saying what to fix, and changes nothing", async () => {
    await projectWithPipeline("set-bad");
    const cases: [unknown, string][] = [
      [{}, "empty_patch"],
      [{ retention: { runs: 0 } }, "retention.runs"],
      [{ retention: { forever: 1 } }, "forever"],
      [{ statuses: { github: "not a repo" } }, "owner/name"],
      [{ repository: "ftp://x" }, "clone URL"],
      [{ webhookSecret: "short" }, "16 characters"],
      [{ slug: "renamed" }, "slug"],
    ];
    for (const [body, says] of cases) {
      const res = await api("PATCH", "/api/v1/projects/set-bad", { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(JSON.stringify(res.json.error), JSON.stringify(body)).toContain(says);
    }
    expect((await api("GET", "/api/v1/projects/set-bad")).json).toMatchObject({ name: "set-bad", statuses: null, retention: null });
    expect((await api("PATCH", "/api/v1/projects/no-such", { body: { name: "x" } })).status).toBe(404);
  });

  it("takes an admin of the project: a run token or another project's admin is refused (403)", async () => {
    await projectWithPipeline("set-auth");
    expect((await api("PATCH", "/api/v1/projects/set-auth", { token: await token(["run"]), body: { name: "x" } })).status).toBe(403);
    expect((await api("PATCH", "/api/v1/projects/set-auth", { token: await token(["admin"], ["other"]), body: { name: "x" } })).status).toBe(403);
    expect((await api("PATCH", "/api/v1/projects/set-auth", { token: await token(["admin"], ["set-auth"]), body: { name: "x" } })).status).toBe(200);
  });
});

describe("DELETE /api/v1/projects/:project", () => {
  it("is refused while a run is active, then removes the project's pipelines, runs, logs, artifacts, secrets and tokens' access", async () => {
    await projectWithPipeline("del-all", ONE_JOB("del-all"));
    expect((await api("PUT", "/api/v1/projects/del-all/secrets/DEPLOY_KEY", { body: { value: "v" } })).status).toBe(201);
    const limited = await token(["read"], ["del-all"]);
    const agent = await registerAgent("del-agent", ["del-all"]);
    const run = (await api("POST", "/api/v1/projects/del-all/pipelines/build/runs")).json;
    const a = (await claim(agent.token, 10)).json;
    const j = job(a.token, a.job.attemptId);
    await j.step("make", { attempt: 1, status: "RUNNING" });
    await j.log(0, 0, new TextEncoder().encode("making\n"));
    const bytes = new TextEncoder().encode("built");
    expect((await j.artifact("out.txt", bytes, await sha256(bytes))).status).toBe(201);

    const refused = await api("DELETE", "/api/v1/projects/del-all");
    expect(refused.status).toBe(409);
    expect(refused.json.error).toMatchObject({ code: "runs_active", details: { runs: [run.number] } });
    expect(refused.json.error.message).toContain("cancel them first");

    await j.step("make", { attempt: 1, status: "SUCCESS", exitCode: 0 });
    expect((await j.finish({ status: "SUCCESS", outputs: {} })).status).toBe(200);
    expect((await api("DELETE", "/api/v1/projects/del-all", { token: await token(["run"]) })).status).toBe(403);
    expect((await api("DELETE", "/api/v1/projects/del-all", { token: await token(["admin"], ["other"]) })).status).toBe(403);
    expect((await api("DELETE", "/api/v1/projects/del-all", { token: "ymt_not-a-token" })).status).toBe(401);
    const deleted = await api("DELETE", "/api/v1/projects/del-all");
    expect(deleted.status, deleted.text).toBe(204);

    expect((await api("GET", "/api/v1/projects/del-all")).status).toBe(404);
    expect((await api("GET", `/api/v1/runs/${run.id}`)).status).toBe(404);
    expect((await api("GET", "/api/v1/runs?project=del-all")).json.items).toEqual([]);
    expect((await env.ARTIFACTS.list({ prefix: `artifacts/${run.id}/` })).objects).toEqual([]);
    const left = await env.DB.prepare(
      "SELECT (SELECT COUNT(*) FROM project_secrets) + (SELECT COUNT(*) FROM pipelines p JOIN projects x ON x.id = p.project_id WHERE x.slug = 'del-all') + (SELECT COUNT(*) FROM jobs WHERE run_id = ?) + (SELECT COUNT(*) FROM artifacts WHERE run_id = ?) AS n",
    )
      .bind(run.id, run.id)
      .first<{ n: number }>();
    expect(left?.n).toBe(0);
    // A project created again under the slug is not the old one: the limited token sees nothing of it.
    await projectWithPipeline("del-all", ONE_JOB("del-all"));
    expect((await api("GET", "/api/v1/projects/del-all", { token: limited })).status).toBe(403);
  });
});

describe("DELETE /api/v1/projects/:project/pipelines/:pipeline", () => {
  it("removes the pipeline: it can no longer be read or triggered; its runs stay", async () => {
    await projectWithPipeline("del-pipe", ONE_JOB("del-pipe"));
    const run = (await api("POST", "/api/v1/projects/del-pipe/pipelines/build/runs")).json;
    expect((await api("DELETE", "/api/v1/projects/del-pipe/pipelines/build", { token: await token(["run"]) })).status).toBe(403);
    expect((await api("DELETE", "/api/v1/projects/del-pipe/pipelines/build")).status).toBe(204);
    expect((await api("GET", "/api/v1/projects/del-pipe/pipelines/build")).status).toBe(404);
    expect((await api("POST", "/api/v1/projects/del-pipe/pipelines/build/runs")).status).toBe(404);
    expect((await api("GET", "/api/v1/projects/del-pipe/pipelines")).json.items).toEqual([]);
    expect((await api("GET", `/api/v1/runs/${run.id}`)).status).toBe(200);
    expect((await api("DELETE", "/api/v1/projects/del-pipe/pipelines/build")).status).toBe(404);
  });
});
