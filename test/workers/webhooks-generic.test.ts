/** The generic webhook: a named pipeline started by a signed (or bearer) call with params. */
import { sign } from "@octokit/webhooks-methods";
import { beforeAll, describe, expect, it } from "vitest";
import { api } from "./api-client.ts";
import { post, projectWithPipelines, runsOf, WEBHOOK_SECRET } from "./webhook-client.ts";

const PROJECT = "generic";
const URL = `/api/v1/webhooks/generic/${PROJECT}/deploy`;

beforeAll(async () => {
  await projectWithPipelines(PROJECT, {
    deploy: `name: deploy
params:
  target:
  region: eu-west-1
jobs:
  ship:
    runs-on: [deployer]
    steps:
      - run: ./deploy.sh \${{ params.target }} \${{ params.region }}
`,
  });
});

const signed = async (body: string, extra: Record<string, string> = {}) =>
  post(URL, body, { "content-type": "application/json", "x-yardmaster-signature-256": await sign(WEBHOOK_SECRET, body), ...extra });

describe("generic webhook", () => {
  it("starts the named pipeline with the body's branch, commit and params (HMAC signature)", async () => {
    const body = JSON.stringify({ branch: "main", commit: "abc123", params: { target: "prod", region: 7 } });
    const answer = await signed(body);
    expect(answer.status).toBe(201);
    expect(answer.json.delivery).toMatchObject({ source: "generic", event: "generic", status: "started", branch: "main", commit: "abc123" });
    const run = (await api("GET", `/api/v1/runs/${answer.json.run.id}`)).json;
    expect(run).toMatchObject({ pipeline: "deploy", branch: "main", commit: "abc123", trigger: "webhook", params: { target: "prod", region: "7" } });
    expect(answer.json.run.number).toBe(run.number);
  });

  it("accepts the project's webhook secret as a bearer token", async () => {
    const answer = await post(URL, JSON.stringify({ params: { target: "staging" } }), {
      "content-type": "application/json",
      authorization: `Bearer ${WEBHOOK_SECRET}`,
    });
    expect(answer.status).toBe(201);
    expect((await api("GET", `/api/v1/runs/${answer.json.run.id}`)).json.params).toEqual({ target: "staging", region: "eu-west-1" });
  });

  it("refuses a wrong secret, a wrong signature or none with 401 and starts nothing", async () => {
    const before = (await runsOf(PROJECT)).length;
    const body = JSON.stringify({ params: { target: "prod" } });
    const attempts: Record<string, string>[] = [
      { authorization: "Bearer not-the-secret" },
      { authorization: "Basic Zm9vOmJhcg==" },
      { "x-yardmaster-signature-256": await sign("not-the-secret", body) },
      {},
    ];
    for (const headers of attempts) {
      const answer = await post(URL, body, { "content-type": "application/json", ...headers });
      expect(answer.status).toBe(401);
      expect(answer.json.error.code).toBe("invalid_signature");
    }
    expect(await runsOf(PROJECT)).toHaveLength(before);
    const rejected = (await api("GET", `/api/v1/projects/${PROJECT}/webhook-deliveries?status=rejected`)).json.items;
    expect(rejected).toHaveLength(4);
  });

  it("starts a delivery id once (X-Yardmaster-Delivery)", async () => {
    const body = JSON.stringify({ params: { target: "prod" } });
    const first = await signed(body, { "x-yardmaster-delivery": "release-42" });
    expect(first.status).toBe(201);
    const again = await signed(body, { "x-yardmaster-delivery": "release-42" });
    expect(again.status).toBe(200);
    // Answered with the run the first copy started.
    expect(again.json).toMatchObject({ delivery: { status: "duplicate" }, run: first.json.run });
  });

  it("answers 400 for a bad body or params and 404 for an unknown pipeline, recording each, starting nothing", async () => {
    const before = (await runsOf(PROJECT)).length;
    const missing = await signed(JSON.stringify({}));
    expect(missing.status).toBe(400);
    expect(missing.json.error).toMatchObject({ code: "missing_params", message: "pipeline 'deploy' needs a value for 'target'" });
    const unknown = await signed(JSON.stringify({ params: { target: "x", colour: "blue" } }));
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.code).toBe("unknown_params");
    const extra = await signed(JSON.stringify({ target: "x" }));
    expect(extra.status).toBe(400);
    expect(extra.json.error.message).toMatch(/^invalid body: /);
    const notJson = await signed("{not json");
    expect(notJson.status).toBe(400);
    expect(notJson.json.error.code).toBe("malformed_json");
    const body = JSON.stringify({ params: { target: "x" } });
    const nowhere = await post(`/api/v1/webhooks/generic/${PROJECT}/no-such`, body, { authorization: `Bearer ${WEBHOOK_SECRET}` });
    expect(nowhere.status).toBe(404);
    expect(nowhere.json.error.code).toBe("pipeline_not_found");
    expect(await runsOf(PROJECT)).toHaveLength(before);
    const failed = (await api("GET", `/api/v1/projects/${PROJECT}/webhook-deliveries?status=failed`)).json.items;
    expect(failed.length).toBeGreaterThanOrEqual(5);
  });

  it("refuses a body over 1 MiB with 413", async () => {
    const answer = await post(URL, JSON.stringify({ params: { target: "x".repeat(1024 * 1024) } }), { authorization: `Bearer ${WEBHOOK_SECRET}` });
    expect(answer.status).toBe(413);
  });
});
