import { describe, expect, it } from "vitest";
import { commitStatusesFor } from "../../../domain/commit-status.ts";
import { EngineDriver } from "../../support/engine-driver.ts";
import { job, pipeline } from "../../support/pipelines.ts";

const SHA = "0123456789abcdef0123456789abcdef01234567";

/** The statuses every command so far called for, in order. */
function statuses(d: EngineDriver, url: string | null = "https://ym.example.com/runs/run-1") {
  return commitStatusesFor(d.state, d.effects.filter((e) => e.type === "transition"), url).map((s) => [s.body.state, s.body.description]);
}

function driver(commit: string | null = SHA) {
  const d = new EngineDriver(pipeline([job("a")]));
  d.state.run.commit = commit;
  return d;
}

describe("commit statuses from the run's transitions", () => {
  it("pending when the attempt starts, success at its end; failure; error when cancelled", () => {
    const ok = driver();
    ok.runJob("a");
    expect(statuses(ok)).toEqual([
      ["pending", "Run #1 is running"],
      ["success", "Run #1 succeeded"],
    ]);
    const failed = driver();
    failed.runJob("a", "FAILED");
    expect(statuses(failed).map(([s]) => s)).toEqual(["pending", "failure"]);
    const cancelled = driver();
    cancelled.cancel();
    expect(statuses(cancelled)).toEqual([["error", "Run #1 was cancelled"]]);
  });

  it("reports a re-run's attempt again, naming it", () => {
    const d = driver();
    d.runJob("a", "FAILED");
    d.rerun();
    d.runJob("a");
    expect(statuses(d).slice(2)).toEqual([
      ["pending", "Run #1 (attempt 2) is running"],
      ["success", "Run #1 (attempt 2) succeeded"],
    ]);
  });

  it("carries the context and target_url; nothing for a run without a full SHA", () => {
    const d = driver();
    d.runJob("a");
    const [first] = commitStatusesFor(d.state, d.effects.filter((e) => e.type === "transition"), "https://ym/runs/run-1");
    expect(first).toEqual({ sha: SHA, body: { state: "pending", description: "Run #1 is running", target_url: "https://ym/runs/run-1", context: "yardmaster/build" } });
    expect(commitStatusesFor(d.state, d.effects.filter((e) => e.type === "transition"), null)[0]!.body).not.toHaveProperty("target_url");
    for (const commit of [null, "main", "abc123"]) {
      const other = driver(commit);
      other.runJob("a");
      expect(statuses(other)).toEqual([]);
    }
  });
});
