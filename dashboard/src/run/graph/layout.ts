/**
 * Lays out a run attempt as a graph with dagre, in two levels: each job's steps are laid out
 * top to bottom inside the job's box (their `needs` as edges), then the job boxes, sized by
 * their contents, are laid out left to right (the jobs' `needs` as edges). Pure: data in,
 * coordinates out; Graph.tsx draws them.
 */
import dagre from "@dagrejs/dagre";

export interface GraphStepInput {
  id: string;
  label: string;
  needs: string[];
}

export interface GraphJobInput {
  key: string;
  needs: string[];
  steps: GraphStepInput[];
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Edge {
  from: string;
  to: string;
  /** An SVG path. */
  d: string;
}

export interface JobBox extends Box {
  key: string;
  steps: (Box & { id: string })[];
  stepEdges: Edge[];
}

export interface GraphLayout {
  width: number;
  height: number;
  jobs: JobBox[];
  edges: Edge[];
}

export const STEP_W = 176;
export const STEP_H = 30;
export const JOB_HEADER = 36;
const JOB_PAD = 12;
const JOB_MIN_W = STEP_W + 2 * JOB_PAD;
const MARGIN = 16;

/** Points → a smooth SVG path (straight segments with rounded joins via quadratic curves). */
function pathOf(points: { x: number; y: number }[]): string {
  if (points.length === 0) return "";
  const [p0, ...rest] = points;
  let d = `M${p0!.x.toFixed(1)},${p0!.y.toFixed(1)}`;
  if (rest.length === 1) return `${d}L${rest[0]!.x.toFixed(1)},${rest[0]!.y.toFixed(1)}`;
  for (let i = 0; i < rest.length - 1; i++) {
    const c = rest[i]!;
    const next = rest[i + 1]!;
    const mx = (c.x + next.x) / 2;
    const my = (c.y + next.y) / 2;
    d += `Q${c.x.toFixed(1)},${c.y.toFixed(1)} ${mx.toFixed(1)},${my.toFixed(1)}`;
  }
  const end = rest[rest.length - 1]!;
  return `${d}L${end.x.toFixed(1)},${end.y.toFixed(1)}`;
}

function layoutSteps(steps: GraphStepInput[]) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "TB", nodesep: 14, ranksep: 18, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = new Set(steps.map((s) => s.id));
  for (const s of steps) g.setNode(s.id, { width: STEP_W, height: STEP_H });
  for (const s of steps) for (const n of s.needs) if (ids.has(n)) g.setEdge(n, s.id);
  dagre.layout(g);
  const label = g.graph();
  const nodes = steps.map((s) => {
    const n = g.node(s.id);
    return { id: s.id, x: n.x! - STEP_W / 2, y: n.y! - STEP_H / 2, width: STEP_W, height: STEP_H };
  });
  const edges = g.edges().map((e) => ({ from: e.v, to: e.w, points: (g.edge(e).points ?? []) as { x: number; y: number }[] }));
  return { width: steps.length ? (label.width ?? STEP_W) : 0, height: steps.length ? (label.height ?? 0) : 0, nodes, edges };
}

export function layoutGraph(jobs: GraphJobInput[]): GraphLayout {
  const inner = new Map(jobs.map((j) => [j.key, layoutSteps(j.steps)]));
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 28, ranksep: 56, marginx: MARGIN, marginy: MARGIN });
  g.setDefaultEdgeLabel(() => ({}));
  const keys = new Set(jobs.map((j) => j.key));
  for (const j of jobs) {
    const l = inner.get(j.key)!;
    const width = Math.max(JOB_MIN_W, l.width + 2 * JOB_PAD);
    const height = JOB_HEADER + (l.height ? l.height + JOB_PAD : 0);
    g.setNode(j.key, { width, height });
  }
  for (const j of jobs) for (const n of j.needs) if (keys.has(n)) g.setEdge(n, j.key);
  dagre.layout(g);

  const boxes: JobBox[] = jobs.map((j) => {
    const n = g.node(j.key);
    const l = inner.get(j.key)!;
    const x = n.x! - n.width / 2;
    const y = n.y! - n.height / 2;
    // Centre the steps' block horizontally in the box.
    const ox = x + (n.width - l.width) / 2;
    const oy = y + JOB_HEADER;
    return {
      key: j.key,
      x,
      y,
      width: n.width,
      height: n.height,
      steps: l.nodes.map((s) => ({ ...s, x: s.x + ox, y: s.y + oy })),
      stepEdges: l.edges.map((e) => ({ from: e.from, to: e.to, d: pathOf(e.points.map((p) => ({ x: p.x + ox, y: p.y + oy }))) })),
    };
  });
  const edges = g.edges().map((e) => ({ from: e.v, to: e.w, d: pathOf((g.edge(e).points ?? []) as { x: number; y: number }[]) }));
  const label = g.graph();
  return { width: Math.ceil(label.width ?? 0), height: Math.ceil(label.height ?? 0), jobs: boxes, edges };
}
