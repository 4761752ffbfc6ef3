/**
 * The agent protocol fuzzed as a conversation: random sequences of what an agent (or an
 * impostor) may send about a real claimed job — heartbeats, step updates with any attempt,
 * status, exit code, outputs and metrics, log chunks in order, resent, past a gap or anywhere,
 * finishes — with the right token, another job's token, a forged one, an agent token or none.
 * After every call: never a 5xx, refusals are JSON errors, a refused call changed nothing in the
 * run, and the log is exactly the chunks the server acknowledged (none lost, none twice). At the
 * end every recorded transition is one the state machine allows, chained from the one before.
 */
import { exports } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canTransition, type State } from "../../domain/states.ts";
import { api, projectWithPipeline } from "./api-client.ts";
import { claim, registerAgent } from "./agent-client.ts";
import { checkAnswer } from "./fuzz-support.ts";

const RUNS = Number(process.env.YM_FUZZ_RUNS ?? 25);
const PIPELINE = (label: string) => `name: build
jobs:
  work:
    runs-on: [${label}]
    steps:
      - id: first
        retries: 1
        run: make
      - id: second
        needs: [first]
        run: make test
`;

type Who = "own" | "other" | "forged" | "agent" | "none";
type Command =
  | { kind: "heartbeat"; who: Who }
  | { kind: "step"; who: Who; step: string; body: unknown }
  | { kind: "log"; who: Who; how: "next" | "resend" | "gap" | "anywhere"; seq: number; offset: number; bytes: Uint8Array }
  | { kind: "finish"; who: Who; body: unknown };

const who = fc.oneof({ weight: 6, arbitrary: fc.constant<Who>("own") }, { weight: 1, arbitrary: fc.constantFrom<Who>("other", "forged", "agent", "none") });
const status = fc.constantFrom("RUNNING", "SUCCESS", "WARNING", "FAILED", "KILLED", "CREATED", "nope");
const outputs = fc.oneof(fc.constant(undefined), fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 20 }), { maxKeys: 3 }), fc.anything());
const stepBody = fc.record(
  {
    attempt: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: -2, max: 100 }), fc.string()),
    status,
    exitCode: fc.oneof(fc.integer({ min: -1, max: 255 }), fc.constant(null)),
    outputs,
    metrics: fc.oneof(fc.constant(undefined), fc.array(fc.record({ name: fc.string({ maxLength: 10 }), kind: fc.constantFrom("counter", "duration", "x"), value: fc.double() }), { maxLength: 3 })),
    reason: fc.string({ maxLength: 60 }),
  },
  { requiredKeys: ["status"] },
);
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant("heartbeat" as const), who }),
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("step" as const), who, step: fc.constantFrom("first", "second", "nope"), body: stepBody }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("log" as const),
      who,
      how: fc.constantFrom("next", "next", "resend", "gap", "anywhere"),
      seq: fc.nat({ max: 50 }),
      offset: fc.nat({ max: 5000 }),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }),
    }),
  },
  fc.record({ kind: fc.constant("finish" as const), who, body: fc.record({ status, outputs }, { requiredKeys: ["status"] }) }),
);

let serial = 0;
const view = async (runId: string) => JSON.stringify((await api("GET", `/api/v1/runs/${runId}`)).json, (k, v) => (k === "durationMs" ? undefined : v));

async function conversation(commands: Command[]): Promise<void> {
  const label = `proto-fuzz-${++serial}`;
  await projectWithPipeline(label, PIPELINE(label));
  const agent = await registerAgent(label, [label]);
  const runId = (await api("POST", `/api/v1/projects/${label}/pipelines/build/runs`, { body: {} })).json.id as string;
  const mine = (await claim(agent.token, 2)).json;
  // Another job, of another run, whose token an impostor might use.
  await api("POST", `/api/v1/projects/${label}/pipelines/build/runs`, { body: {} });
  const theirs = (await claim(agent.token, 2)).json;
  const id = mine.job.attemptId as string;
  const tokens: Record<Who, string | null> = { own: mine.token, other: theirs.token, forged: mine.token.replace(/\.[^.]+$/, ".forged"), agent: agent.token, none: null };

  // The log as the server acknowledged it.
  const accepted: Uint8Array[] = [];
  let head = { nextSeq: 0, nextOffset: 0 };
  let last: { seq: number; offset: number; bytes: Uint8Array } | null = null;

  for (const c of commands) {
    const token = tokens[c.who];
    const before = await view(runId);
    let path = `/api/agent/v1/jobs/${id}/${c.kind === "step" ? `steps/${c.step}` : c.kind === "log" ? "logs" : c.kind}`;
    let res;
    if (c.kind === "log") {
      const chunk: { seq: number; offset: number; bytes: Uint8Array } =
        c.how === "next" ? { seq: head.nextSeq, offset: head.nextOffset, bytes: c.bytes }
        : c.how === "resend" && last ? last
        : c.how === "gap" ? { seq: head.nextSeq + 1 + (c.seq % 3), offset: head.nextOffset + c.bytes.byteLength, bytes: c.bytes }
        : { seq: c.seq, offset: c.offset, bytes: c.bytes };
      path += `?seq=${chunk.seq}&offset=${chunk.offset}`;
      res = await api("POST", path, { token, raw: chunk.bytes, headers: { "content-type": "application/octet-stream" } });
      const isNext = chunk.seq === head.nextSeq && chunk.offset === head.nextOffset;
      if (res.status === 200 && isNext) {
        accepted.push(chunk.bytes);
        last = chunk;
        head = { nextSeq: head.nextSeq + 1, nextOffset: head.nextOffset + chunk.bytes.byteLength };
      }
      if (res.status === 200) expect(res.json, `${path}`).toEqual(head);
      if (res.status === 409) expect(res.json.error).toMatchObject({ code: "log_gap", details: head });
    } else {
      res = await api("POST", path, { token, body: c.kind === "heartbeat" ? undefined : c.body });
    }
    checkAnswer({ method: "POST", path, headers: {} }, res);
    // An impostor gets nowhere: 401/403 (or the 400 any malformed body gets, checked first).
    if (c.who !== "own") expect([400, 401, 403], `${c.who} token on ${path}: ${res.status} ${res.text}`).toContain(res.status);
    if (res.status >= 400 && c.kind !== "log") expect(await view(runId), `refused ${path} changed the run`).toBe(before);
  }

  // The stored log is exactly the acknowledged chunks.
  const log = await exports.default.fetch(`http://x/api/v1/runs/${runId}/jobs/work/log`, { headers: { authorization: "Bearer test-admin-token" } });
  expect(new Uint8Array(await log.arrayBuffer())).toEqual(new Uint8Array(accepted.flatMap((b) => [...b])));

  // Every recorded transition is legal and chains from the one before.
  const run = (await api("GET", `/api/v1/runs/${runId}`)).json;
  const histories = [run.history, ...run.attempts.flatMap((a: any) => [a.history, ...a.jobs.flatMap((j: any) => j.attempts.map((ja: any) => ja.history))])];
  for (const history of histories) {
    for (let i = 1; i < history.length; i++) {
      const { from, to } = history[i];
      expect(from, JSON.stringify(history)).toBe(history[i - 1].to);
      expect(canTransition(from as State, to as State), `${from} → ${to}`).toBe(true);
    }
  }
}

describe("fuzzing the agent protocol as a conversation", () => {
  it("random calls about a real job, with its token and others: nothing breaks, nothing is lost", async () => {
    await fc.assert(fc.asyncProperty(fc.array(command, { minLength: 5, maxLength: 30 }), conversation), { numRuns: RUNS });
  }, 300_000);
});
