/**
 * Pickup latency: how long a ready job waits when idle agents are already asking for work.
 *
 * Four idle agents (agent-protocol clients made of the agent's own HTTP code, in this process so
 * the moment a claim is answered is read exactly) hold long-poll claims. A one-job pipeline is
 * triggered; its job is ready the moment the run is created. The clock starts at the job
 * attempt's `createdAt` — the control plane's own timestamp of the command that made it ready
 * — and stops when an agent has read the claim's 200 answer. Between samples every agent is
 * back to holding a claim. Baseline, interleaved sample by sample: one keep-alive round trip to
 * `GET /api/health` of the same worker.
 */
import { assertNoReload, type Benchmark, figure, ProtocolAgent, roundStats, summarize, waitFor, wallNow, withControlPlane } from "./harness.ts";

const AGENTS = 4;
/** Issue 20: pickup p50 at most this many times the `GET /api/health` round trip. */
const P50_TARGET_RATIO = 2.5;

const PIPELINE = `jobs:
  only:
    runs-on: [pickup]
    steps:
      - run: "true"
`;

export const pickup: Benchmark = {
  name: "pickup",
  title: "Pickup latency",
  async run({ quick, progress }) {
    const samples = quick ? 30 : 200;
    return withControlPlane({ project: "pickup", pipelines: { one: PIPELINE } }, async (cp, { health, onStop }) => {
      const controller = new AbortController();
      const agents: ProtocolAgent[] = [];
      onStop(() => {
        controller.abort();
        for (const a of agents) a.close();
      });
      for (let i = 0; i < AGENTS; i++) agents.push(await ProtocolAgent.register(cp, `idle-${i + 1}`, ["pickup"]));

      // Each agent claims again as soon as its last claim is answered (and its job finished).
      const heldSince: (number | null)[] = agents.map(() => null);
      const answeredAt = new Map<string, number>();
      const finished = new Set<string>();
      const loops = agents.map(async (agent, i) => {
        while (!controller.signal.aborted) {
          heldSince[i] = performance.now();
          const got = await agent.claim(25, controller.signal).catch((e: unknown) => {
            if (controller.signal.aborted) return null;
            throw e;
          });
          heldSince[i] = null;
          if (!got) continue;
          answeredAt.set(got.assignment.run.id, got.at);
          await agent.finish(got.assignment);
          finished.add(got.assignment.run.id);
        }
      });

      // Warm-up (first claims, first run object, JIT): not counted.
      const warm = async () => {
        const run = await cp.api("POST", "/api/v1/projects/pickup/pipelines/one/runs", {});
        await waitFor("the warm-up job to be finished", () => finished.has(run.json.id), { timeoutMs: 30_000, intervalMs: 5 });
      };
      for (let i = 0; i < 3; i++) await warm();

      const pickupMs: number[] = [];
      const triggerToClaimMs: number[] = [];
      const triggerMs: number[] = [];
      const healthMs: number[] = [];
      for (let i = 0; i < samples; i++) {
        // Every agent idle and its claim in the server's hands (30 ms is many round trips).
        await waitFor("every agent to hold a claim", () => heldSince.every((t) => t !== null && performance.now() - t > 30), {
          timeoutMs: 30_000,
          intervalMs: 2,
        });
        healthMs.push((await health.request("GET", "/api/health")).ms);

        const sent = wallNow();
        const run = await cp.api("POST", "/api/v1/projects/pickup/pipelines/one/runs", {});
        triggerMs.push(wallNow() - sent);
        if (run.status !== 201) throw new Error(`trigger: ${run.status} ${run.text}`);
        const runId = run.json.id as string;
        const readyAt = Date.parse(run.json.attempts[0].jobs[0].attempts[0].createdAt as string);
        const at = await waitFor("an agent to hold the job", () => answeredAt.get(runId), { timeoutMs: 30_000, intervalMs: 1 });
        pickupMs.push(at - readyAt);
        triggerToClaimMs.push(at - sent);
        await waitFor("the job to be finished", () => finished.has(runId), { timeoutMs: 30_000, intervalMs: 2 });
        progress.update(`${i + 1}/${samples} samples, last pickup ${(at - readyAt).toFixed(1)} ms, health ${healthMs[healthMs.length - 1]!.toFixed(1)} ms`);
      }
      controller.abort();
      await Promise.allSettled(loops);

      assertNoReload(cp);
      const p = summarize(pickupMs);
      const b = summarize(healthMs);
      const base = (label: string, value: number) => ({ label: `GET /api/health round trip ${label}`, value, unit: "ms" });
      return {
        definition: [
          `${AGENTS} idle agents hold long-poll claims (\`POST /api/agent/v1/claim\`, waitSeconds 25). They are agent-protocol`,
          "clients built from the agent's own HTTP code (`agent/client.ts`, `agent/protocol-client.ts`: node:http, keep-alive), running in the",
          "benchmark's process so that the moment a claim's answer is read is known exactly. A one-job pipeline is triggered; the job",
          "is ready when the run is created.",
          "",
          "- **Clock starts**: the job attempt's `createdAt` (from the trigger's answer) — the control plane's timestamp of the",
          "  command that made the job ready. workerd's clock advances only on I/O, so this is the moment that command arrived at",
          "  the RunObject, never later: the latency can only be overstated (by the command's own CPU time).",
          "- **Clock stops**: an agent has read the claim's 200 answer (the JobAssignment, parsed and validated).",
          "- Path measured: RunObject commit → dispatch outbox → DispatcherObject.enqueue → the held claim wakes → RunObject.assign",
          "  → the answer back through the worker.",
          "- Between samples every agent is idle again with its claim held for at least 30 ms; 3 warm-up runs are not counted.",
          "- **Baseline**, interleaved (one before each sample, same client type): a keep-alive round trip to `GET /api/health`.",
        ].join("\n"),
        limit: [
          `The floor is the baseline: an agent cannot learn of a job sooner than one round trip to the worker (p50 ${b.p50.toFixed(1)} ms`,
          `here). On top of it the pickup crosses two Durable Object calls — RunObject → DispatcherObject (enqueue, from the run's`,
          "dispatch outbox) and DispatcherObject → RunObject (assign: the job token, its SHA-256, the state change) — each behind a",
          `SQLite transaction and its output gate. Measured: p50 ${(p.p50 - b.p50).toFixed(1)} ms above the baseline (${(p.p50 / b.p50).toFixed(1)}×), p99 ${(p.p99 / b.p99).toFixed(1)}× the baseline's p99.`,
          `Issue 20's target (p50 ≤ ${P50_TARGET_RATIO}× the round trip) leaves the two hops ${(P50_TARGET_RATIO - 1).toFixed(1)} round trips (${((P50_TARGET_RATIO - 1) * b.p50).toFixed(1)} ms here); they took ${((p.p50 - b.p50) / b.p50).toFixed(1)}.`,
          "On Cloudflare the run's object, the dispatcher and the worker may sit in different places; each hop then adds network",
          "time that the local runtime does not show, and the floor becomes the agent's round trip to its nearest location.",
        ].join("\n"),
        figures: [
          // Issue 20's target, a ratio to the round trip measured beside it (issue 8 asked an absolute 20 ms).
          figure("pickup.p50", "Pickup latency p50", p.p50, "ms", { baseline: base("p50", b.p50), target: { on: "ratio", op: "<=", value: P50_TARGET_RATIO } }),
          figure("pickup.p95", "Pickup latency p95", p.p95, "ms", { baseline: base("p95", b.p95) }),
          // Issue 8's target: issue 20 sets none for p99.
          figure("pickup.p99", "Pickup latency p99", p.p99, "ms", { baseline: base("p99", b.p99), target: { op: "<=", value: 100 } }),
        ],
        notes: [
          `${pickupMs.length} samples. Trigger request sent → claim answered (includes the trigger's own D1 work): p50 ${summarize(triggerToClaimMs).p50.toFixed(1)} ms; the trigger's answer itself took p50 ${summarize(triggerMs).p50.toFixed(1)} ms (it waits for the D1 projection, the claim does not).`,
        ],
        raw: {
          agents: AGENTS,
          pickupMs: roundStats(p),
          healthMs: roundStats(b),
          triggerToClaimMs: roundStats(summarize(triggerToClaimMs)),
          triggerAnswerMs: roundStats(summarize(triggerMs)),
          samples: { pickupMs: pickupMs.map((x) => Number(x.toFixed(2))), healthMs: healthMs.map((x) => Number(x.toFixed(2))) },
        },
      };
    });
  },
};
