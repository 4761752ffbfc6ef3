/** The dashboard's words for what a job waits for and why it ended (the graph viewer; issue 17). */
import { describe, expect, it } from "vitest";
import { statusLook } from "../../../dashboard/src/lib/status.ts";

describe("statusLook", () => {
  it("a job waiting for its concurrency group or a person says so; a superseded one says Superseded", () => {
    expect(statusLook("CREATED", null, ["concurrency: deploy-main"])).toEqual({ label: "Waiting for deploy-main", tone: "queued" });
    expect(statusLook("CREATED", null, ["approval"])).toEqual({ label: "Waiting for approval", tone: "queued" });
    expect(statusLook("CREATED", null, ["build"])).toEqual({ label: "Queued", tone: "queued" });
    expect(statusLook("KILLED", "superseded")).toEqual({ label: "Superseded", tone: "cancelled" });
    expect(statusLook("KILLED", "skipped")).toEqual({ label: "Skipped", tone: "notrun" });
  });
});
