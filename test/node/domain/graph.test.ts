import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { downstreamOf, findCycle, topologicalOrder, upstreamOf, type GraphNode } from "../../../domain/pipeline/graph.ts";

const g = (spec: Record<string, string[]>): GraphNode[] => Object.entries(spec).map(([id, needs]) => ({ id, needs }));

describe("findCycle", () => {
  it("returns null for a graph without cycles", () => {
    expect(findCycle(g({ a: [], b: ["a"], c: ["a", "b"] }))).toBeNull();
    expect(findCycle([])).toBeNull();
  });

  it("names the cycle in order, each id needing the next, the first repeated at the end", () => {
    expect(findCycle(g({ a: ["b"], b: ["c"], c: ["a"] }))).toEqual(["a", "b", "c", "a"]);
  });

  it("finds the cycle away from the start and leaves out the path leading to it", () => {
    expect(findCycle(g({ x: ["a"], a: ["b"], b: ["a"] }))).toEqual(["a", "b", "a"]);
  });

  it("reports a node that needs itself", () => {
    expect(findCycle(g({ a: ["a"] }))).toEqual(["a", "a"]);
  });

  it("ignores needs naming unknown nodes (the parser reports those)", () => {
    expect(findCycle(g({ a: ["ghost"], b: ["a"] }))).toBeNull();
  });

  it("handles a 20 000-node chain without overflowing the stack", () => {
    const nodes = Array.from({ length: 20_000 }, (_, i) => ({ id: `n${i}`, needs: i ? [`n${i - 1}`] : [] }));
    expect(findCycle(nodes)).toBeNull();
    nodes[0]!.needs = ["n19999"];
    expect(findCycle(nodes)).toHaveLength(20_001);
  });
});

describe("topologicalOrder", () => {
  it("puts every node after its needs and keeps input order among ready nodes", () => {
    expect(topologicalOrder(g({ deploy: ["test", "build"], test: ["build"], lint: [], build: [] }))).toEqual([
      "lint",
      "build",
      "test",
      "deploy",
    ]);
  });

  it("returns null when there is a cycle", () => {
    expect(topologicalOrder(g({ a: ["b"], b: ["a"], c: [] }))).toBeNull();
  });

  it("counts a need listed twice once", () => {
    expect(topologicalOrder(g({ a: [], b: ["a", "a"] }))).toEqual(["a", "b"]);
  });
});

describe("downstreamOf / upstreamOf", () => {
  const nodes = g({ build: [], test: ["build"], lint: ["build"], deploy: ["test"], docs: [] });

  it("downstreamOf gives every node that transitively needs a start node, start included, in input order", () => {
    expect(downstreamOf(nodes, ["test"])).toEqual(["test", "deploy"]);
    expect(downstreamOf(nodes, ["build"])).toEqual(["build", "test", "lint", "deploy"]);
    expect(downstreamOf(nodes, ["docs", "ghost"])).toEqual(["docs"]);
  });

  it("upstreamOf gives every node a start node transitively needs, start included", () => {
    expect(upstreamOf(nodes, ["deploy"])).toEqual(["build", "test", "deploy"]);
    expect(upstreamOf(nodes, ["build"])).toEqual(["build"]);
  });

  it("terminates on cycles", () => {
    expect(downstreamOf(g({ a: ["b"], b: ["a"] }), ["a"])).toEqual(["a", "b"]);
  });
});

/** Random graphs of up to 12 nodes whose needs may name missing nodes too. */
const graphs = fc.integer({ min: 0, max: 12 }).chain((size) =>
  fc.array(fc.array(fc.integer({ min: 0, max: size + 1 }), { maxLength: 4 }), { minLength: size, maxLength: size }).map(
    (needs) => needs.map((list, i) => ({ id: `n${i}`, needs: list.map((j) => `n${j}`) })),
  ),
);

describe("properties", () => {
  it("findCycle finds a cycle exactly when topologicalOrder fails, and both answers are correct", () => {
    fc.assert(
      fc.property(graphs, (nodes) => {
        const cycle = findCycle(nodes);
        const order = topologicalOrder(nodes);
        expect(cycle === null).toBe(order !== null);
        const byId = new Map(nodes.map((n) => [n.id, n]));
        if (cycle) {
          expect(cycle[0]).toBe(cycle[cycle.length - 1]);
          for (let i = 0; i + 1 < cycle.length; i++) expect(byId.get(cycle[i]!)!.needs).toContain(cycle[i + 1]);
        }
        if (order) {
          expect([...order].sort()).toEqual(nodes.map((n) => n.id).sort());
          const at = new Map(order.map((id, i) => [id, i]));
          for (const node of nodes) {
            for (const need of node.needs) if (at.has(need)) expect(at.get(need)!).toBeLessThan(at.get(node.id)!);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it("downstreamOf and upstreamOf mirror each other", () => {
    fc.assert(
      fc.property(graphs, fc.nat(), (nodes, pick) => {
        if (nodes.length === 0) return;
        const a = nodes[pick % nodes.length]!.id;
        for (const b of downstreamOf(nodes, [a])) expect(upstreamOf(nodes, [b])).toContain(a);
      }),
    );
  });
});
