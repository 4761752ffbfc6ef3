import { describe, expect, it } from "vitest";
import { parsePipeline } from "../../../domain/pipeline/parse.ts";
import { PIPELINE_TEMPLATES } from "../../../dashboard/src/pages/pipeline-templates.ts";

describe("the editor's pipeline templates", () => {
  it("are valid pipelines; the first, the default, is the bootstrap uploading .yardmaster/<name>.act", () => {
    for (const t of PIPELINE_TEMPLATES) {
      const parsed = parsePipeline(t.text("deploy"));
      expect(parsed.ok, `${t.id}: ${JSON.stringify(!parsed.ok && parsed.problems)}`).toBe(true);
    }
    expect(PIPELINE_TEMPLATES[0]!.id).toBe("bootstrap");
    expect(PIPELINE_TEMPLATES[0]!.text("deploy")).toContain("yardmaster-agent pipeline upload .yardmaster/deploy.act");
  });
});
