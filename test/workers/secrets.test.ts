/**
 * Project secrets: write-only, encrypted at rest, snapshotted into a run when it is triggered,
 * and sent to an agent only in the claim answer of the job that references them, with the
 * values listed in `mask`. A secret's value appears in no other API answer and nowhere in D1.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { claim, job, registerAgent } from "./agent-client.ts";
import { api } from "./api-client.ts";
import { deliverGithub, githubExamples, projectWithPipelines } from "./webhook-client.ts";

const P = "vault";
const VALUE = "hunter2-Zq9xV7-very-secret";
const ROTATED = "rotated-Kp3mN8-even-more-secret";

const PIPELINE = `name: deploy
on: { pull_request: {} }
env: { REGION: eu }
jobs:
  ship:
    runs-on: [vault-ship]
    env: { TOKEN: "\${{ secrets.DEPLOY_KEY }}" }
    steps:
      - id: push
        run: echo deploying with \${{ secrets.DEPLOY_KEY }} to \${{ secrets.MISSING }}x
  notify:
    runs-on: [vault-notify]
    steps:
      - run: echo nothing secret here
`;

/** Claims until the agent gets a job of `runId` (earlier tests may have left jobs queued). */
async function claimFor(agentToken: string, runId: string) {
  for (let i = 0; i < 20; i++) {
    const answer = await claim(agentToken);
    if (answer.status !== 200) throw new Error(`claim: ${answer.status} ${answer.text}`);
    if (answer.json.run.id === runId) return answer.json;
  }
  throw new Error(`no job of run ${runId} was claimed`);
}

async function putSecret(name: string, value: string, token?: string) {
  return api("PUT", `/api/v1/projects/${P}/secrets/${name}`, { body: { value }, ...(token && { token }) });
}

/** Every text value in every D1 table, to prove a plaintext is stored nowhere. */
async function everythingInD1(): Promise<string> {
  const tables = await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'").all<{ name: string }>();
  const dumps: string[] = [];
  for (const { name } of tables.results) dumps.push(JSON.stringify((await env.DB.prepare(`SELECT * FROM "${name}"`).all()).results));
  return dumps.join("\n");
}

beforeAll(async () => {
  await projectWithPipelines(P, { deploy: PIPELINE });
});

describe("project secrets", () => {
  it("are created, replaced, listed by name only and deleted", async () => {
    const created = await putSecret("DEPLOY_KEY", "first value");
    expect(created.status).toBe(201);
    expect(Object.keys(created.json).sort()).toEqual(["createdAt", "name", "updatedAt"]);
    const replaced = await putSecret("DEPLOY_KEY", VALUE);
    expect(replaced.status).toBe(200);
    expect(replaced.json.createdAt).toBe(created.json.createdAt);
    expect((await putSecret("UNUSED", "x")).status).toBe(201);

    const list = await api("GET", `/api/v1/projects/${P}/secrets`);
    expect(list.json.items.map((s: any) => s.name)).toEqual(["DEPLOY_KEY", "UNUSED"]);
    expect(list.text).not.toContain(VALUE);

    expect((await api("DELETE", `/api/v1/projects/${P}/secrets/UNUSED`)).status).toBe(204);
    const again = await api("DELETE", `/api/v1/projects/${P}/secrets/UNUSED`);
    expect(again.status).toBe(404);
    expect(again.json.error.code).toBe("secret_not_found");
  });

  it("refuses bad names and values with a 4xx that does not echo the value", async () => {
    const badName = await putSecret("9lives", "v");
    expect(badName.status).toBe(400);
    expect(badName.json.error.message).toContain("a secret name starts with a letter or '_'");
    expect((await putSecret("EMPTY", "")).status).toBe(400);
    const big = "S".repeat(64 * 1024 + 1);
    const tooBig = await putSecret("BIG", big);
    expect(tooBig.status).toBe(413);
    expect(tooBig.json.error.code).toBe("secret_too_large");
    expect(tooBig.text).not.toContain("SSSSSSSS");
    const extra = await api("PUT", `/api/v1/projects/${P}/secrets/X`, { body: { value: VALUE, note: VALUE } });
    expect(extra.status).toBe(400);
    expect(extra.text).not.toContain(VALUE);
    expect((await api("PUT", `/api/v1/projects/nowhere/secrets/X`, { body: { value: "v" } })).status).toBe(404);
  });

  it("reach only the job that references them, inside its claim answer, with their values to mask", async () => {
    await putSecret("DEPLOY_KEY", VALUE);
    const run = await api("POST", `/api/v1/projects/${P}/pipelines/deploy/runs`, { body: { branch: "main" } });
    expect(run.status).toBe(201);

    const shipper = await registerAgent("shipper", ["vault-ship"]);
    const assignment = await claim(shipper.token);
    expect(assignment.status).toBe(200);
    expect(assignment.json.job.key).toBe("ship");
    expect(assignment.json.steps[0].run).toBe(`echo deploying with ${VALUE} to x`);
    expect(assignment.json.env).toMatchObject({ REGION: "eu", TOKEN: VALUE });
    expect(assignment.json.mask).toEqual([VALUE]);

    const notifier = await registerAgent("notifier", ["vault-notify"]);
    const other = await claim(notifier.token);
    expect(other.json.job.key).toBe("notify");
    expect(other.text).not.toContain(VALUE);
    expect(other.json.mask).toEqual([]);

    // Nowhere else: the run, the lists, the pipeline, the queue, the agents, D1.
    const answers = await Promise.all([
      api("GET", `/api/v1/runs/${run.json.id}`),
      api("GET", `/api/v1/runs?project=${P}`),
      api("GET", `/api/v1/projects/${P}/pipelines/deploy`),
      api("GET", `/api/v1/projects/${P}/secrets`),
      api("GET", "/api/v1/queue"),
      api("GET", "/api/v1/agents"),
      api("GET", `/api/v1/runs/${run.json.id}/jobs/ship/log`),
    ]);
    for (const answer of [run, ...answers]) expect(answer.text).not.toContain(VALUE);
    expect(await everythingInD1()).not.toContain(VALUE);
  });

  it("are the values of when the run was triggered, for its jobs and its re-runs", async () => {
    await putSecret("DEPLOY_KEY", VALUE);
    const run = (await api("POST", `/api/v1/projects/${P}/pipelines/deploy/runs`, { body: {} })).json;
    await putSecret("DEPLOY_KEY", ROTATED);
    const agent = await registerAgent("snapshot", ["vault-ship"]);
    const first = await claimFor(agent.token, run.id);
    expect(first.mask).toEqual([VALUE]);

    expect((await api("POST", `/api/v1/runs/${run.id}/cancel`)).status).toBe(200);
    expect((await job(first.token, first.job.attemptId).finish({ status: "KILLED" })).status).toBe(200);
    expect((await api("POST", `/api/v1/runs/${run.id}/rerun`, { body: {} })).status).toBe(201);
    const rerun = await claimFor(agent.token, run.id);
    expect(rerun.run.attempt).toBe(2);
    expect(rerun.mask).toEqual([VALUE]);

    const later = (await api("POST", `/api/v1/projects/${P}/pipelines/deploy/runs`, { body: {} })).json;
    expect((await claimFor(agent.token, later.id)).mask).toEqual([ROTATED]);
    expect(await everythingInD1()).not.toContain(ROTATED);
  });

  it("are withheld from pull requests from forks", async () => {
    await putSecret("DEPLOY_KEY", VALUE);
    const pr = githubExamples("pull_request").find((p) => p.action === "opened")!;
    pr.pull_request.head.repo.full_name = "stranger/Hello-World";
    const delivery = await deliverGithub(P, "pull_request", pr);
    expect(delivery.json.status).toBe("started");
    const agent = await registerAgent("fork-runner", ["vault-ship"]);
    const assignment = await claimFor(agent.token, delivery.json.runs[0].runId);
    expect(assignment.mask).toEqual([]);
    expect(JSON.stringify(assignment)).not.toContain(VALUE);
    expect(assignment.steps[0].run).toBe("echo deploying with  to x");
    // The agent writes this at the top of the job's log: the empty value is not a mystery.
    expect(assignment.notices).toEqual([expect.stringContaining("pull request from a fork: it gets no project secrets")]);
  });
});
