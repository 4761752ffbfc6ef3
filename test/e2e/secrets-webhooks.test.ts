// Issue 6 against the real `wrangler dev` and a real agent: a signed GitHub push starts the
// pipeline, the agent runs it with a project secret, and the stored log shows the mask where the
// job printed the secret (as is and in base64); no API answer carries the value.
import { sign } from "@octokit/webhooks-methods";
import examples from "@octokit/webhooks-examples";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "./harness.ts";

const SECRET_VALUE = "e2e-Secret-7Hq2Lx9Pw";
const WEBHOOK_SECRET = "e2e-webhook-secret-0123456789";
const PIPELINE = `name: deploy
on: { push: { branches: [master] } }
jobs:
  deploy:
    runs-on: [secrets-e2e]
    env: { KEY: "\${{ secrets.DEPLOY_KEY }}" }
    steps:
      - run: |
          echo "plain: \${{ secrets.DEPLOY_KEY }}"
          echo "from env: $KEY"
          printf '%s' "$KEY" | base64
          echo "commit: \${{ run.commit }} on \${{ run.branch }}"
`;

let cp: ControlPlane;
let agent: AgentProcess;

beforeAll(async () => {
  cp = await startControlPlane();
  expect((await cp.api("POST", "/api/v1/projects", { slug: "e2e-secrets", webhookSecret: WEBHOOK_SECRET })).status).toBe(201);
  const stored = await cp.api("PUT", "/api/v1/projects/e2e-secrets/pipelines/deploy", undefined, { raw: PIPELINE, headers: { "content-type": "text/plain" } });
  expect(stored.status, stored.text).toBe(201);
  const secret = await cp.api("PUT", "/api/v1/projects/e2e-secrets/secrets/DEPLOY_KEY", { value: SECRET_VALUE });
  expect(secret.status, secret.text).toBe(201);
  agent = await startAgent(cp, { name: "secrets-agent", labels: ["secrets-e2e"] });
});
afterAll(async () => {
  await stopAll();
  await cp?.stop();
});

describe("secrets and webhooks end to end", () => {
  it("a signed push starts the run; the agent masks the secret in the stored log", async () => {
    const push = structuredClone(((examples as unknown as { name: string; examples: unknown[] }[]).find((e) => e.name === "push")!.examples as any[]).find((p) => p.ref === "refs/heads/master"));
    const body = JSON.stringify(push);
    const delivered = await fetch(`${cp.url}/api/v1/webhooks/github/e2e-secrets`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": "push",
        "x-github-delivery": "e2e-delivery-1",
        "x-hub-signature-256": await sign(WEBHOOK_SECRET, body),
      },
      body,
    });
    const delivery = (await delivered.json()) as any;
    expect(delivered.status, JSON.stringify(delivery)).toBe(200);
    expect(delivery.status).toBe("started");
    const runId = delivery.runs[0].runId as string;

    const run = await waitFor(
      "the webhook's run to end",
      async () => {
        const r = (await cp.api("GET", `/api/v1/runs/${runId}`)).json;
        return ["SUCCESS", "WARNING", "FAILED", "KILLED"].includes(r.status) ? r : null;
      },
      { timeoutMs: 60_000, intervalMs: 250, explain: () => `--- agent\n${agent.output().slice(-3000)}\n--- wrangler dev\n${cp.output().slice(-3000)}` },
    );
    expect(run).toMatchObject({ status: "SUCCESS", trigger: "webhook", branch: "master", commit: push.after });

    const log = await fetch(`${cp.url}/api/v1/runs/${runId}/jobs/deploy/log`, { headers: { authorization: `Bearer ${cp.adminToken}` } }).then((r) => r.text());
    expect(log).toContain("plain: ***");
    expect(log).toContain("from env: ***");
    expect(log).toContain(`commit: ${push.after} on master`);
    expect(log).not.toContain(SECRET_VALUE);
    expect(log).not.toContain(Buffer.from(SECRET_VALUE).toString("base64"));

    for (const path of [`/api/v1/runs/${runId}`, "/api/v1/runs?project=e2e-secrets", "/api/v1/projects/e2e-secrets/secrets", "/api/v1/projects/e2e-secrets/webhook-deliveries"]) {
      expect((await cp.api("GET", path)).text).not.toContain(SECRET_VALUE);
    }

    const replay = await fetch(`${cp.url}/api/v1/webhooks/github/e2e-secrets`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": "e2e-delivery-1", "x-hub-signature-256": await sign(WEBHOOK_SECRET, body) },
      body,
    });
    expect(((await replay.json()) as any).status).toBe("duplicate");
    expect((await cp.api("GET", "/api/v1/runs?project=e2e-secrets")).json.items).toHaveLength(1);
  });
});
