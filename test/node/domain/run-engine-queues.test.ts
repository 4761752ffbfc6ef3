/** The run engine carries each job's queue into what the dispatcher is told (issue 14). */
import { describe, expect, it } from "vitest";
import { EngineDriver } from "../../support/engine-driver.ts";
import { job, pipeline } from "../../support/pipelines.ts";

describe("queues in the run engine", () => {
  it("enqueues, dequeues and releases each job on its own queue", () => {
    const d = new EngineDriver(pipeline([job("build", [], { queue: "secure" }), job("lint"), job("other", [], { queue: "secure" })]));
    const enqueued = d.effects.flatMap((e) => (e.type === "enqueue" ? [[e.item.jobKey, e.item.queue]] : []));
    expect(enqueued).toEqual([
      ["build", "secure"],
      ["lint", "default"],
      ["other", "secure"],
    ]);
    d.runJob("build");
    expect(d.effects.find((e) => e.type === "release")).toMatchObject({ queue: "secure" });
    d.cancel();
    const dequeues = d.effects.flatMap((e) => (e.type === "dequeue" ? [[e.queue, e.jobAttemptIds.length]] : []));
    expect(dequeues.sort()).toEqual([
      ["default", 1],
      ["secure", 1],
    ]);
  });

  it("a run stored before queues (jobs without a queue) keeps sending its jobs to `default`", () => {
    const d = new EngineDriver(pipeline([job("old")]));
    const legacy = structuredClone(d.state);
    for (const attempt of legacy.attempts) for (const j of attempt.jobs) delete j.queue;
    d.state = legacy;
    d.runJob("old");
    expect(d.effects.find((e) => e.type === "release")).toMatchObject({ queue: "default" });
  });
});
