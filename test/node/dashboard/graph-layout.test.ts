// The graph viewer's layout (dagre): jobs left to right by their needs, steps inside their
// job's box top to bottom, nothing overlapping.
import { describe, expect, it } from "vitest";
import { type Box, layoutGraph } from "../../../dashboard/src/run/graph/layout.ts";

const inside = (inner: Box, outer: Box) =>
  inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.width <= outer.x + outer.width && inner.y + inner.height <= outer.y + outer.height;
const overlap = (a: Box, b: Box) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

describe("layoutGraph", () => {
  const layout = layoutGraph([
    { key: "build", needs: [], steps: [{ id: "install", label: "install", needs: [] }, { id: "unit", label: "unit", needs: ["install"] }, { id: "lint", label: "lint", needs: ["install"] }] },
    { key: "docs", needs: [], steps: [{ id: "step-1", label: "step-1", needs: [] }] },
    { key: "deploy", needs: ["build", "docs"], steps: [{ id: "ship", label: "ship", needs: [] }] },
  ]);
  const job = (key: string) => layout.jobs.find((j) => j.key === key)!;

  it("puts a job to the right of the jobs it needs", () => {
    expect(job("deploy").x).toBeGreaterThan(job("build").x + job("build").width);
    expect(job("deploy").x).toBeGreaterThan(job("docs").x + job("docs").width);
    expect(layout.edges.map((e) => `${e.from}>${e.to}`).sort()).toEqual(["build>deploy", "docs>deploy"]);
    for (const e of layout.edges) expect(e.d).toMatch(/^M[\d.]+,[\d.]+/);
  });

  it("puts each job's steps inside its box, below the steps they need, without overlaps", () => {
    for (const j of layout.jobs) for (const s of j.steps) expect(inside(s, j)).toBe(true);
    const step = (id: string) => job("build").steps.find((s) => s.id === id)!;
    expect(step("unit").y).toBeGreaterThan(step("install").y + step("install").height);
    expect(step("lint").y).toBe(step("unit").y);
    const boxes = [...layout.jobs, ...layout.jobs.flatMap((j) => j.steps)];
    for (const a of layout.jobs) for (const b of layout.jobs) if (a !== b) expect(overlap(a, b)).toBe(false);
    expect(boxes.length).toBe(8);
  });

  it("fits the whole drawing", () => {
    for (const j of layout.jobs) {
      expect(j.x).toBeGreaterThanOrEqual(0);
      expect(j.x + j.width).toBeLessThanOrEqual(layout.width + 0.5);
      expect(j.y + j.height).toBeLessThanOrEqual(layout.height + 0.5);
    }
  });
});
