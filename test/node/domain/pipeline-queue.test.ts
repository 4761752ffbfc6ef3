/** `queue:` in a pipeline (issue 14): where a job waits, and the registry's rules at upload. */
import { describe, expect, it } from "vitest";
import { parsePipeline } from "../../../domain/pipeline/parse.ts";
import { queueRefusal, type QueueRule } from "../../../domain/queues.ts";

const yaml = (...lines: string[]) => lines.join("\n") + "\n";

const registry = new Map<string, QueueRule>([
  ["default", { name: "default", projects: null }],
  ["secure", { name: "secure", projects: ["alpha"] }],
]);
const forProject = (project: string) => (queue: string) => queueRefusal(registry, queue, project);

const file = yaml(
  "queue: secure",
  "jobs:",
  "  build:",
  "    runs-on: linux",
  "    steps: [{ run: make }]",
  "  lint:",
  "    queue: default",
  "    runs-on: linux",
  "    steps: [{ run: lint }]",
);

describe("queue:", () => {
  it("defaults to `default`, takes the pipeline's, and a job's own wins", () => {
    const plain = parsePipeline(yaml("jobs:", "  a:", "    runs-on: linux", "    steps: [{ run: x }]"));
    expect(plain.ok && plain.pipeline.jobs.map((j) => j.queue)).toEqual(["default"]);
    const parsed = parsePipeline(file);
    expect(parsed.ok && parsed.pipeline.jobs.map((j) => [j.key, j.queue])).toEqual([
      ["build", "secure"],
      ["lint", "default"],
    ]);
  });

  it("refuses a name that could not be a queue, where it is written", () => {
    const parsed = parsePipeline(yaml("jobs:", "  a:", "    queue: Big.Queue", "    runs-on: linux", "    steps: [{ run: x }]"));
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problems[0]).toMatchObject({ line: 3, column: 12, path: ["jobs", "a", "queue"] });
    expect(parsed.problems[0]!.message).toMatch(/queue name is 1–63 lowercase/);
  });

  it("passes for a project the queue allows", () => {
    expect(parsePipeline(file, { queueRefusal: forProject("alpha") }).ok).toBe(true);
  });

  it("refuses another project, naming the queue and the project at the pipeline's `queue:`", () => {
    const parsed = parsePipeline(file, { queueRefusal: forProject("beta") });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problems).toHaveLength(1);
    expect(parsed.problems[0]).toMatchObject({ line: 1, column: 8, path: ["queue"] });
    expect(parsed.problems[0]!.message).toContain("queue 'secure' does not allow project 'beta'");
  });

  it("refuses an unknown queue at the job's own `queue:`", () => {
    const parsed = parsePipeline(yaml("jobs:", "  a:", "    queue: nowhere", "    runs-on: linux", "    steps: [{ run: x }]"), {
      queueRefusal: forProject("alpha"),
    });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problems[0]).toMatchObject({ line: 3, path: ["jobs", "a", "queue"] });
    expect(parsed.problems[0]!.message).toContain("queue 'nowhere' does not exist");
  });
});
