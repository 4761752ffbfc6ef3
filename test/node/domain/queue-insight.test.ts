// Why a job waits: its place per queue, the median of past durations, the wait shared over the
// agents that can take it, and the labels no online agent of its queue carries.
import { describe, expect, it } from "vitest";
import { median, queueInsight } from "../../../domain/queue-insight.ts";

const job = (id: string, labels: string[], queue = "default", key = "p/build/compile") => ({ jobAttemptId: id, queue, durationKey: key, labels });

describe("queue insight", () => {
  it("takes the median of past durations", () => {
    expect(median([])).toBeNull();
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(3);
  });

  it("places each job in its queue and estimates its start from the jobs ahead", () => {
    const durations = new Map([["p/build/compile", [60_000, 20_000, 40_000]]]);
    const agents = [{ queue: "default", labels: ["linux"], slots: 2 }];
    const out = queueInsight([job("a", ["linux"]), job("b", ["linux"]), job("c", ["linux"], "other"), job("d", ["linux"])], agents, durations);
    expect(out.map((i) => [i.jobAttemptId, i.position])).toEqual([["a", 1], ["b", 2], ["c", 1], ["d", 3]]);
    expect(out[0]).toMatchObject({ durationMs: 40_000, samples: 3, startsInMs: 0, missingLabels: [], capableAgents: 1 });
    // Two jobs of 40 s ahead, two slots: about 40 s.
    expect(out[3]!.startsInMs).toBe(40_000);
  });

  it("names the labels no online agent of the job's queue carries", () => {
    const agents = [
      { queue: "default", labels: ["linux", "x64"], slots: 1 },
      { queue: "gpu-farm", labels: ["linux", "gpu", "cuda"], slots: 1 },
    ];
    const [gpu, none] = queueInsight([job("a", ["linux", "gpu", "cuda"]), job("b", ["arm"], "empty")], agents, new Map());
    expect(gpu).toMatchObject({ capableAgents: 0, startsInMs: null, missingLabels: ["gpu", "cuda"] });
    expect(none).toMatchObject({ capableAgents: 0, missingLabels: ["arm"] });
  });

  it("does not count jobs ahead that its agents could not take", () => {
    const agents = [{ queue: "default", labels: ["linux"], slots: 1 }];
    const durations = new Map([["p/x/gpu", [100_000]], ["p/build/compile", [10_000]]]);
    const out = queueInsight([job("g", ["gpu"], "default", "p/x/gpu"), job("a", ["linux"])], agents, durations);
    expect(out[1]!.startsInMs).toBe(0);
  });
});
