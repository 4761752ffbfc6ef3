/**
 * GitHub webhooks with GitHub's own example payloads, signed as GitHub signs them: the right
 * pipelines start on the right branch and commit; a wrong signature, a replayed delivery, a
 * tag push or a deleted branch start nothing; every delivery is recorded.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { sha256 } from "./agent-client.ts";
import { api } from "./api-client.ts";
import { deliverGithub, githubExamples, pipelineFile, post, projectWithPipelines, pushTo, runsOf } from "./webhook-client.ts";

const PROJECT = "hooks";

beforeAll(async () => {
  await projectWithPipelines(PROJECT, {
    ci: pipelineFile("ci", `{ push: { branches: [master, "release/*"] }, pull_request: {} }`),
    docs: pipelineFile("docs", `{ push: { branches: ["docs/**"] } }`),
    prs: pipelineFile("prs", `{ pull_request: { branches: [develop] } }`),
    nightly: pipelineFile("nightly", `{ schedule: ["0 3 * * *"] }`),
  });
});

async function deliveries(query = "") {
  const list = await api("GET", `/api/v1/projects/${PROJECT}/webhook-deliveries${query}`);
  expect(list.status).toBe(200);
  return list.json.items as any[];
}

describe("GitHub webhook", () => {
  it("starts the pipelines whose push filter matches, on the pushed branch and commit", async () => {
    const push = pushTo("master");
    const before = (await runsOf(PROJECT)).length;
    const answer = await deliverGithub(PROJECT, "push", push, { delivery: "d-push-master" });
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ source: "github", deliveryId: "d-push-master", event: "push", branch: "master", commit: push.after, status: "started" });
    expect(answer.json.runs.map((r: any) => r.pipeline)).toEqual(["ci"]);

    const runs = await runsOf(PROJECT);
    expect(runs).toHaveLength(before + 1);
    const run = (await api("GET", `/api/v1/runs/${answer.json.runs[0].runId}`)).json;
    expect(run).toMatchObject({ pipeline: "ci", branch: "master", commit: push.after, trigger: "webhook", number: answer.json.runs[0].number });
    expect(run.triggeredBy).toEqual({ kind: "webhook", id: "hooks/ci", name: "webhook of hooks/ci" });

    const release = await deliverGithub(PROJECT, "push", pushTo("release/2.0"));
    expect(release.json.runs.map((r: any) => r.pipeline)).toEqual(["ci"]);
    const docs = await deliverGithub(PROJECT, "push", pushTo("docs/guide/intro"));
    expect(docs.json.runs.map((r: any) => r.pipeline)).toEqual(["docs"]);
  });

  it("starts nothing for a push no filter matches, and says so", async () => {
    const answer = await deliverGithub(PROJECT, "push", pushTo("feature/x"));
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ status: "ignored", runs: [], reason: "no pipeline starts on a push to feature/x (on.push.branches)" });
  });

  it("refuses a wrong or missing signature with 401, starts nothing, and records the refusal", async () => {
    const before = (await runsOf(PROJECT)).length;
    const wrong = await deliverGithub(PROJECT, "push", pushTo("master"), { delivery: "d-forged", secret: "not-the-project-secret" });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error.code).toBe("invalid_signature");
    const missing = await deliverGithub(PROJECT, "push", pushTo("master"), { delivery: "d-unsigned", signature: null });
    expect(missing.status).toBe(401);
    const malformed = await deliverGithub(PROJECT, "push", pushTo("master"), { delivery: "d-malformed", signature: "sha1=abc" });
    expect(malformed.status).toBe(401);
    expect(await runsOf(PROJECT)).toHaveLength(before);

    const rejected = await deliveries("?status=rejected");
    expect(rejected.map((d) => [d.deliveryId, d.reason])).toEqual(
      expect.arrayContaining([
        ["d-forged", "refused: a signature that does not match the project's webhook secret"],
        ["d-unsigned", "refused: no signature"],
        ["d-malformed", "refused: a malformed signature (expected sha256=<64 hex digits>)"],
      ]),
    );
  });

  it("does not let a forged delivery take the id of a real one", async () => {
    await deliverGithub(PROJECT, "push", pushTo("master"), { delivery: "d-taken", secret: "forger" });
    const real = await deliverGithub(PROJECT, "push", pushTo("master"), { delivery: "d-taken" });
    expect(real.json.status).toBe("started");
  });

  it("starts nothing a second time for a delivery id seen before, even when both copies race", async () => {
    const push = pushTo("master");
    const first = await deliverGithub(PROJECT, "push", push, { delivery: "d-replayed" });
    expect(first.json.status).toBe("started");
    const before = (await runsOf(PROJECT)).length;
    const replay = await deliverGithub(PROJECT, "push", push, { delivery: "d-replayed" });
    expect(replay.status).toBe(200);
    // Answered with the runs the first copy started.
    expect(replay.json).toMatchObject({ status: "duplicate", runs: first.json.runs });
    expect(replay.json.reason).toContain(first.json.id);

    const another = pushTo("master");
    const racing = await Promise.all([1, 2, 3, 4].map(() => deliverGithub(PROJECT, "push", another, { delivery: "d-racing" })));
    expect(racing.map((r) => r.json.status).sort()).toEqual(["duplicate", "duplicate", "duplicate", "started"]);
    expect(await runsOf(PROJECT)).toHaveLength(before + 1);
  });

  it("starts nothing for a tag push or a deleted branch", async () => {
    const before = (await runsOf(PROJECT)).length;
    for (const tag of githubExamples("push").filter((p) => p.ref.startsWith("refs/tags/"))) {
      const answer = await deliverGithub(PROJECT, "push", tag);
      expect(answer.status).toBe(200);
      expect(answer.json.status).toBe("ignored");
    }
    const deleted = { ...pushTo("master"), deleted: true, after: "0".repeat(40) };
    const answer = await deliverGithub(PROJECT, "push", deleted);
    expect(answer.json).toMatchObject({ status: "ignored", reason: "branch master was deleted" });
    expect(await runsOf(PROJECT)).toHaveLength(before);
  });

  it("starts pull request pipelines on the head branch and commit, filtered by base branch", async () => {
    const opened = githubExamples("pull_request").find((p) => p.action === "opened")!;
    const answer = await deliverGithub(PROJECT, "pull_request", opened);
    expect(answer.json).toMatchObject({ status: "started", action: "opened", branch: opened.pull_request.head.ref, commit: opened.pull_request.head.sha });
    // base is master: `ci` takes every base branch, `prs` only develop.
    expect(answer.json.runs.map((r: any) => r.pipeline)).toEqual(["ci"]);
    const run = (await api("GET", `/api/v1/runs/${answer.json.runs[0].runId}`)).json;
    expect(run).toMatchObject({ branch: "changes", commit: opened.pull_request.head.sha, trigger: "webhook" });

    const intoDevelop = githubExamples("pull_request").find((p) => p.action === "synchronize")!;
    intoDevelop.pull_request.base.ref = "develop";
    expect((await deliverGithub(PROJECT, "pull_request", intoDevelop)).json.runs.map((r: any) => r.pipeline)).toEqual(["ci", "prs"]);

    for (const action of ["closed", "labeled", "edited"]) {
      const other = githubExamples("pull_request").find((p) => p.action === action);
      if (!other) continue;
      expect((await deliverGithub(PROJECT, "pull_request", other)).json.status).toBe("ignored");
    }
  });

  it("answers a ping and ignores events it does not handle", async () => {
    const ping = await deliverGithub(PROJECT, "ping", githubExamples("ping")[0]);
    expect(ping.status).toBe(200);
    expect(ping.json).toMatchObject({ event: "ping", status: "ignored" });
    const star = await deliverGithub(PROJECT, "star", githubExamples("star")[0]);
    expect(star.json).toMatchObject({ status: "ignored", reason: "event 'star' starts no run" });
  });

  it("accepts form-encoded deliveries (the hook's other content type)", async () => {
    const payload = JSON.stringify(pushTo("release/3.0"));
    const body = new URLSearchParams({ payload }).toString();
    const { sign } = await import("@octokit/webhooks-methods");
    const answer = await post(`/api/v1/webhooks/github/${PROJECT}`, body, {
      "content-type": "application/x-www-form-urlencoded",
      "x-github-event": "push",
      "x-github-delivery": "d-form",
      "x-hub-signature-256": await sign("webhook-secret-for-tests-0123456789", body),
    });
    expect(answer.json).toMatchObject({ status: "started", branch: "release/3.0" });
  });

  it("answers 400 for an authentic delivery it cannot read, and 404 for an unknown project", async () => {
    const noDelivery = await post(`/api/v1/webhooks/github/${PROJECT}`, "{}", {
      "x-github-event": "push",
      "x-hub-signature-256": await (await import("@octokit/webhooks-methods")).sign("webhook-secret-for-tests-0123456789", "{}"),
    });
    expect(noDelivery.status).toBe(400);
    expect(noDelivery.json.error.code).toBe("missing_delivery_id");
    const bad = await deliverGithub(PROJECT, "push", { ref: 7 });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ code: "invalid_payload" });
    expect((await deliverGithub("no-such-project", "push", pushTo("master"))).status).toBe(404);
  });

  it("refuses a body over its limit with 413", async () => {
    const huge = { ...pushTo("master"), padding: "x".repeat(6 * 1024 * 1024) };
    const answer = await deliverGithub(PROJECT, "push", huge);
    expect(answer.status).toBe(413);
    expect(answer.json.error.code).toBe("body_too_large");
  });

  it("finishes a delivery cut short when it is redelivered, without starting its runs twice", async () => {
    // A delivery recorded with its planned run, whose worker died before starting it.
    const project = (await api("GET", `/api/v1/projects/${PROJECT}`)).json;
    const runId = "01900000-0000-7000-8000-0000000000aa";
    const push = pushTo("master");
    // The dedupe key of a GitHub delivery is the SHA-256 of its body (the bytes deliverGithub sends).
    const dedupeKey = `sha256:${await sha256(new TextEncoder().encode(JSON.stringify(push)))}`;
    await env.DB.prepare(
      `INSERT INTO webhook_deliveries (id, project_id, source, delivery_id, dedupe_key, event, branch, "commit", status, runs, received_at)
       VALUES (?, ?, 'github', 'd-cut-short', ?, 'push', 'master', ?, 'accepted', ?, ?)`,
    )
      .bind("01900000-0000-7000-8000-0000000000ab", project.id, dedupeKey, push.after, JSON.stringify([{ pipeline: "ci", runId }]), Date.now() - 5 * 60_000)
      .run();
    const redelivered = await deliverGithub(PROJECT, "push", push, { delivery: "d-cut-short" });
    expect(redelivered.json).toMatchObject({ id: "01900000-0000-7000-8000-0000000000ab", status: "started", runs: [{ pipeline: "ci", runId }] });
    expect((await api("GET", `/api/v1/runs/${runId}`)).json).toMatchObject({ pipeline: "ci", branch: "master", trigger: "webhook" });
    const again = await deliverGithub(PROJECT, "push", push, { delivery: "d-cut-short" });
    expect(again.json.status).toBe("duplicate");
  });

  it("lists every delivery, newest first, to readers of the project", async () => {
    const all = await deliveries("?limit=100");
    expect(all.length).toBeGreaterThan(10);
    expect([...all].sort((a, b) => (a.id < b.id ? 1 : -1)).map((d) => d.id)).toEqual(all.map((d) => d.id));
    expect(new Set(all.map((d) => d.status))).toEqual(new Set(["started", "ignored", "rejected", "duplicate", "failed"]));
    const page = await deliveries("?limit=2");
    expect(page).toHaveLength(2);
    expect((await api("GET", `/api/v1/projects/${PROJECT}/webhook-deliveries`, { token: null })).status).toBe(401);
  });
});
