// Issue 6 against the real `wrangler dev` and a real agent: a signed GitHub push starts the
// pipeline, the agent runs it with a project secret, and the stored log shows the mask where the
// job printed the secret (as is, and in base64 long enough to wrap over two lines); a step
// output and a job output built from the secret hold the mask, in the run and in the next job;
// no API answer carries the value; the same body replayed under a new delivery id starts nothing
// (issue 13).
import { sign } from "@octokit/webhooks-methods";
import examples from "@octokit/webhooks-examples";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "./harness.ts";

// 100 bytes: its base64 (136 characters) wraps at 76 columns, over two lines.
const SECRET_VALUE = "e2e-Secret-7Hq2Lx9Pw-".repeat(5).slice(0, 100);
const WEBHOOK_SECRET = "e2e-webhook-secret-0123456789";
const PIPELINE = `name: deploy
on: { push: { branches: [master] } }
jobs:
  deploy:
    runs-on: [secrets-e2e]
    env: { KEY: "\${{ secrets.DEPLOY_KEY }}" }
    steps:
      - id: show
        run: |
          echo "plain: \${{ secrets.DEPLOY_KEY }}"
          echo "from env: $KEY"
          printf '%s' "$KEY" | base64
          echo "commit: \${{ run.commit }} on \${{ run.branch }}"
          echo "token=Bearer $KEY" >> "$YM_OUTPUT"
    outputs: { token: "\${{ steps.show.outputs.token }}" }
  notify:
    needs: [deploy]
    runs-on: [secrets-e2e]
    steps:
      - run: echo "got \${{ needs.deploy.outputs.token }}"
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

    const logOf = (job: string) => fetch(`${cp.url}/api/v1/runs/${runId}/jobs/${job}/log`, { headers: { authorization: `Bearer ${cp.adminToken}` } }).then((r) => r.text());
    const log = await logOf("deploy");
    expect(log).toContain("plain: ***");
    expect(log).toContain("from env: ***");
    expect(log).toContain(`commit: ${push.after} on master`);
    expect(log).not.toContain(SECRET_VALUE);
    // `base64` wraps at 76 columns: neither line of it may show.
    const b64 = Buffer.from(SECRET_VALUE).toString("base64");
    expect(b64.length).toBeGreaterThan(76);
    for (const line of [b64.slice(0, 76), b64.slice(76)]) expect(log).not.toContain(line);

    // Outputs built from the secret: masked in the run, and in the job that uses them.
    const deploy = run.attempts[0].jobs.find((j: any) => j.key === "deploy");
    expect(deploy.outputs).toEqual({ token: "Bearer ***" });
    expect(deploy.attempts[0].steps[0].outputs).toEqual({ token: "Bearer ***" });
    const notify = await logOf("notify");
    expect(notify).toContain("got Bearer ***");
    expect(notify).not.toContain(SECRET_VALUE);

    for (const path of [`/api/v1/runs/${runId}`, "/api/v1/runs?project=e2e-secrets", "/api/v1/projects/e2e-secrets/secrets", "/api/v1/projects/e2e-secrets/webhook-deliveries"]) {
      expect((await cp.api("GET", path)).text).not.toContain(SECRET_VALUE);
    }

    const replay = await fetch(`${cp.url}/api/v1/webhooks/github/e2e-secrets`, {
      method: "POST",
      // The same signed body under a delivery id of the replayer's choosing.
      headers: { "content-type": "application/json", "x-github-event": "push", "x-github-delivery": "e2e-delivery-2", "x-hub-signature-256": await sign(WEBHOOK_SECRET, body) },
      body,
    });
    expect(((await replay.json()) as any).status).toBe("duplicate");
    expect((await cp.api("GET", "/api/v1/runs?project=e2e-secrets")).json.items).toHaveLength(1);
  });
});
