/**
 * Property-based fuzzing of every route of `GET /api/openapi.json` — the user API, webhooks,
 * the session, live streams and the agent protocol — with hostile path params, query strings,
 * credentials (admin, scoped, agent, job and registration tokens, garbage, none), content types
 * and bodies (schema-shaped with wrong types, random JSON, malformed JSON, huge, random bytes).
 * Every answer is below 500, every refusal is a JSON `{error: {code, message}}`, and a refused
 * write changes nothing in D1 or in the runs. YM_FUZZ_RUNS sets the cases per route (default 25).
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, job, registerAgent, sha256 } from "./agent-client.ts";
import { checkAnswer, enc, type FuzzRequest, type Known, type Operation, operations, requestFor, send, snapshot } from "./fuzz-support.ts";

const RUNS = Number(process.env.YM_FUZZ_RUNS ?? 25);

let doc: any;
let ops: Operation[] = [];
const known: Known = {};
const tokens: Record<string, string> = { admin: "test-admin-token" };
let runIds: string[] = [];

beforeAll(async () => {
  ({ doc, ops } = await operations());
  await projectWithPipeline("fuzz");
  await api("PUT", "/api/v1/projects/fuzz/secrets/KEEP", { body: { value: "kept" } });
  const run = (await api("POST", "/api/v1/projects/fuzz/pipelines/build/runs", { body: { branch: "main" } })).json;
  const queued = (await api("POST", "/api/v1/projects/fuzz/pipelines/build/runs", { body: {} })).json;
  runIds = [run.id, queued.id];
  const queuedJobs = queued.attempts[0].jobs.flatMap((j: any) => j.attempts.map((a: any) => a.id));
  const registration = (await api("POST", "/api/v1/agent-tokens", { body: { name: "fuzz" } })).json;
  const agent = await registerAgent("fuzzer", ["linux"], registration.token);
  const throwawayAgent = await registerAgent("throwaway", ["nothing-runs-here"], registration.token);
  const assignment = (await claim(agent.token, 2)).json;
  const j = job(assignment.token, assignment.job.attemptId);
  await j.step("install", { attempt: 1, status: "RUNNING" });
  const bytes = new TextEncoder().encode("artifact\n");
  const artifact = (await j.artifact("out/a.txt", bytes, await sha256(bytes))).json;
  const read = (await api("POST", "/api/v1/tokens", { body: { name: "reader", scopes: ["read"], projects: ["fuzz"] } })).json;
  const throwaway = (await api("POST", "/api/v1/tokens", { body: { name: "throwaway", scopes: ["read"] } })).json;
  Object.assign(tokens, { read: read.token, agent: agent.token, job: assignment.token, registration: registration.token });
  Object.assign(known, {
    project: ["fuzz"],
    pipeline: ["build"],
    run: runIds,
    job: ["test", "deploy"],
    id: [throwaway.id, throwawayAgent.agentId],
    artifact: [artifact.id],
    jobAttemptId: [assignment.job.attemptId],
    stepId: ["install", "unit"],
    partNumber: ["1", "0", "10001"],
    name: ["KEEP", "NEW_SECRET"],
    attempt: ["1", "2"],
    runAttempt: ["1"],
    limit: ["1", "100", "101"],
    cursor: [run.id],
    since: ["0", "1"],
    seq: ["0", "1"],
    offset: ["0"],
    sha256: ["0".repeat(64), await sha256(bytes)],
    size: ["0", "9"],
    status: ["SUCCESS", "RUNNING", "rejected"],
    // Body fields, by name.
    slug: ["fuzz", "fuzz-new", "fuzz-other"],
    scopes: [["read"], ["run", "read"], ["admin"]],
    projects: [["fuzz"], ["nope"]],
    expiresAt: ["2099-01-01T00:00:00.000Z", "2001-01-01T00:00:00.000Z"],
    branch: ["main"],
    commit: ["0123456789abcdef0123456789abcdef01234567"],
    params: [{}, { a: "b" }],
    jobs: [queuedJobs, [assignment.job.attemptId]],
    before: queuedJobs,
    after: queuedJobs,
    value: ["v"],
    labels: [["linux"], []],
    version: ["1.0"],
    waitSeconds: [0],
    claimId: ["claim-fuzz-0001"],
    exitCode: [0, 1],
    outputs: [{}, { k: "v" }],
    token: ["test-admin-token"],
    parts: [[{ partNumber: 1, etag: "x" }]],
  });
  known.job = [...(known.job as string[]), ...queuedJobs];
});

/** Until three snapshots in a row agree: the outboxes of an earlier accepted write may still be landing. */
async function settledSnapshot(): Promise<string> {
  let last = await snapshot(runIds);
  let same = 0;
  for (let i = 0; i < 25 && same < 2; i++) {
    await new Promise((r) => setTimeout(r, 40));
    const now = await snapshot(runIds);
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

/** The stored state as of the last refused write; null after an accepted one (it changed). */
let current: string | null = null;

async function fuzzOne(req: FuzzRequest): Promise<void> {
  const write = req.method !== "GET";
  const before = write ? (current ??= await settledSnapshot()) : "";
  const res = await send(req);
  checkAnswer(req, res);
  if (write && res.status < 400) current = null;
  if (write && res.status >= 400) {
    const after = await snapshot(runIds);
    current = after;
    if (after !== before) {
      const [b, a] = [before.split("\n"), after.split("\n")];
      const i = b.findIndex((line, k) => line !== a[k]);
      throw new Error(`${req.method} ${req.path} → ${res.status} changed stored state:\nbefore: ${b[i]?.slice(0, 800)}\nafter:  ${a[i]?.slice(0, 800)}`);
    }
  }
}

describe("fuzzing every route", () => {
  it("the OpenAPI document lists the routes (so new ones are fuzzed too)", () => {
    expect(ops.length).toBeGreaterThan(40);
    expect(ops.some((o) => o.path.startsWith("/api/agent/v1/"))).toBe(true);
  });

  it("every route: never a 5xx, refusals are JSON errors, refused writes change nothing", async () => {
    const failures: string[] = [];
    for (const op of ops) {
      try {
        await fc.assert(fc.asyncProperty(requestFor(op, doc, known, tokens), fuzzOne), { numRuns: RUNS, endOnFailure: true });
      } catch (error) {
        failures.push(`${op.method} ${op.path}: ${String(error).slice(0, 1500)}`);
      }
    }
    expect(failures, failures.join("\n\n")).toEqual([]);
  }, 600_000);

  it("unknown routes and methods: 404 JSON, never a 5xx", async () => {
    const method = fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS");
    const path = fc.array(fc.string({ maxLength: 12 }).map(enc), { minLength: 1, maxLength: 5 }).map((parts) => `/api/${parts.join("/")}`);
    await fc.assert(
      fc.asyncProperty(method, path, async (m, p) => {
        const req = { method: m, path: p, headers: { authorization: "Bearer test-admin-token" } };
        checkAnswer(req, await send(req));
      }),
      { numRuns: RUNS * 4 },
    );
  }, 120_000);
});
