// Metrics a long step appends to $YM_METRICS reach the server while it runs (as RUNNING step
// updates with the metrics so far), only complete lines are read, and the final update has
// them all — through the real JobRunner, a real shell and the protocol test ctx.server.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { final, runJob, eachTestServer } from "./helpers.ts";
import { makeAssignment } from "./protocol-server.ts";

const ctx = eachTestServer();

describe("metrics while a step runs", () => {
  it("are reported as they are appended, complete lines only, and in full at the end", async () => {
    const go = path.join(ctx.dir, "go");
    const job = makeAssignment({
      steps: [
        {
          id: "load",
          run: [
            `echo "rows=10" >> "$YM_METRICS"`,
            `printf "late=" >> "$YM_METRICS"`, // a line still being written
            `while [ ! -f "${go}" ]; do sleep 0.05; done`,
            `echo "5" >> "$YM_METRICS"`,
            `echo "rows=20" >> "$YM_METRICS"`,
          ].join("\n"),
        },
      ],
    });
    ctx.server.addJob(job);
    const running = runJob(ctx.server, job, ctx.dir);

    // While the step waits for `go`, the server hears of the complete line.
    const progress = await vi.waitFor(
      () => {
        const update = ctx.server.job(job.job.attemptId).steps.find((s) => s.stepId === "load" && s.status === "RUNNING" && s.metrics);
        if (!update) throw new Error("no progress yet");
        return update;
      },
      { timeout: 15_000, interval: 50 },
    );
    expect(progress).toMatchObject({ attempt: 1, metrics: [{ name: "rows", kind: "counter", value: 10 }] });

    await writeFile(go, "");
    const r = await running;
    expect(r.outcome.status).toBe("SUCCESS");
    const updates = r.steps.filter((s) => s.stepId === "load");
    expect(updates[0]).toMatchObject({ status: "RUNNING" });
    expect(updates[0]!.metrics).toBeUndefined();
    expect(final(r.steps, "load")).toMatchObject({
      status: "SUCCESS",
      metrics: [
        { name: "rows", kind: "counter", value: 30 },
        { name: "late", kind: "counter", value: 5 },
      ],
    });
    // Every progress report came before the end, and none repeats the one before it.
    const reports = updates.filter((s) => s.status === "RUNNING" && s.metrics).map((s) => JSON.stringify(s.metrics));
    expect(new Set(reports).size).toBe(reports.length);
  });
});
