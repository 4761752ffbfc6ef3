// Commit statuses against the real `wrangler dev` and a real agent, with a recording HTTP server
// on 127.0.0.1 standing for GitHub (GITHUB_API_URL): pending then success (or failure), with
// the project's GITHUB_TOKEN and the documented headers; while it answers 503 the statuses
// wait and arrive later, in order, none lost; a 4xx is not retried and shows on the project.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "./harness.ts";

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: { state: string; target_url?: string; description: string; context: string };
  answered: number;
}

const TOKEN = "ghp_e2eStatusToken0123456789";
const received: Received[] = [];
/** Decides each answer: the status code to send. */
let answer: (path: string) => number = () => 201;

const github = http.createServer((req, res) => {
  let text = "";
  req.on("data", (d) => (text += d));
  req.on("end", () => {
    const status = answer(req.url ?? "");
    received.push({ path: req.url ?? "", headers: req.headers, body: JSON.parse(text), answered: status });
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(status < 300 ? { id: received.length } : { message: status === 422 ? "No commit found for SHA" : "unavailable" }));
  });
});

const PIPELINE = (name: string, script: string) => `name: ${name}
jobs:
  build:
    runs-on: [statuses-e2e]
    steps:
      - run: ${script}
`;

let cp: ControlPlane;
let sha = 0;
const nextSha = () => (++sha).toString(16).padStart(40, "a");

beforeAll(async () => {
  await new Promise<void>((resolve) => github.listen(0, "127.0.0.1", resolve));
  const apiUrl = `http://127.0.0.1:${(github.address() as AddressInfo).port}`;
  cp = await startControlPlane({ vars: { GITHUB_API_URL: apiUrl } });
  expect((await cp.api("POST", "/api/v1/projects", { slug: "e2e-statuses" })).status).toBe(201);
  const patched = await cp.api("PATCH", "/api/v1/projects/e2e-statuses", { statuses: { github: "acme/api" } });
  expect(patched.status, patched.text).toBe(200);
  expect((await cp.api("PUT", "/api/v1/projects/e2e-statuses/secrets/GITHUB_TOKEN", { value: TOKEN })).status).toBe(201);
  for (const [name, script] of [["build", "echo ok"], ["broken", "exit 1"]]) {
    const stored = await cp.api("PUT", `/api/v1/projects/e2e-statuses/pipelines/${name}`, undefined, { raw: PIPELINE(name!, script!), headers: { "content-type": "text/plain" } });
    expect(stored.status, stored.text).toBe(201);
  }
  await startAgent(cp, { name: "statuses-agent", labels: ["statuses-e2e"] });
}, 120_000);

afterAll(async () => {
  await stopAll();
  await cp?.stop();
  github.close();
});

async function run(pipeline: string, commit: string) {
  const res = await cp.api("POST", `/api/v1/projects/e2e-statuses/pipelines/${pipeline}/runs`, { branch: "main", commit });
  expect(res.status, res.text).toBe(201);
  return res.json as { id: string; number: number };
}

/** What GitHub has accepted for `commit`, once `n` statuses got through. */
async function accepted(commit: string, n: number) {
  return waitFor(
    `${n} statuses for ${commit}`,
    async () => {
      const ok = received.filter((r) => r.path.endsWith(commit) && r.answered < 300);
      return ok.length >= n && ok;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}

describe("commit statuses to GitHub", () => {
  it("pending, then success, with the token, the headers, the context and the run's page", async () => {
    const commit = nextSha();
    const r = await run("build", commit);
    const got = await accepted(commit, 2);
    expect(got.map((g) => g.body.state)).toEqual(["pending", "success"]);
    for (const g of got) {
      expect(g.path).toBe(`/repos/acme/api/statuses/${commit}`);
      expect(g.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(g.headers.accept).toBe("application/vnd.github+json");
      expect(g.headers["x-github-api-version"]).toBe("2022-11-28");
      expect(g.body).toMatchObject({ context: "yardmaster/build", target_url: `${cp.url}/runs/${r.id}` });
    }
    expect(got[1]!.body.description).toBe(`Run #${r.number} succeeded`);
  }, 90_000);

  it("pending, then failure for a failing run", async () => {
    const commit = nextSha();
    await run("broken", commit);
    const got = await accepted(commit, 2);
    expect(got.map((g) => [g.body.state, g.body.context])).toEqual([
      ["pending", "yardmaster/broken"],
      ["failure", "yardmaster/broken"],
    ]);
  }, 90_000);

  it("while GitHub answers 503 the statuses wait; they arrive later, in order, none lost", async () => {
    const commit = nextSha();
    let outage = 3;
    answer = (path) => (path.endsWith(commit) && outage-- > 0 ? 503 : 201);
    const r = await run("build", commit);
    const got = await accepted(commit, 2);
    answer = () => 201;
    const tries = received.filter((x) => x.path.endsWith(commit));
    expect(tries.filter((x) => x.answered === 503)).toHaveLength(3);
    // Every try before the first success was of the pending status: the queue kept its order.
    expect(tries.map((x) => `${x.body.state}:${x.answered}`)).toEqual(["pending:503", "pending:503", "pending:503", "pending:201", "success:201"]);
    expect(got.map((g) => g.body.state)).toEqual(["pending", "success"]);
    expect((await cp.api("GET", `/api/v1/runs/${r.id}`)).json.status).toBe("SUCCESS");
  }, 90_000);

  it("a 4xx is not retried: it is recorded and shown on the project", async () => {
    const commit = nextSha();
    answer = (path) => (path.endsWith(commit) ? 422 : 201);
    const r = await run("build", commit);
    await waitFor("both statuses refused", async () => received.filter((x) => x.path.endsWith(commit)).length >= 2, { timeoutMs: 60_000, intervalMs: 200 });
    const project = await waitFor(
      "the refusal on the project",
      async () => {
        const p = (await cp.api("GET", "/api/v1/projects/e2e-statuses")).json;
        return p.statusesError?.runId === r.id && p;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    answer = () => 201;
    expect(project.statusesError).toMatchObject({ runNumber: r.number, httpStatus: 422 });
    expect(project.statusesError.message).toContain("No commit found for SHA");
    // Each status was tried once: a refusal is final.
    expect(received.filter((x) => x.path.endsWith(commit)).map((x) => x.body.state)).toEqual(["pending", "success"]);
  }, 90_000);
});
