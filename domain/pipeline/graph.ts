/**
 * Graph helpers over anything with an `id` and the ids it `needs` (jobs of a pipeline, steps
 * of a job). An edge A → B means "A needs B", so B must finish first.
 *
 * Conventions shared by every helper:
 * - A `needs` entry naming an id that is not among the nodes is ignored here: the parser
 *   reports unknown ids itself, with their place in the file.
 * - Ids should be unique; when they are not, the first node with an id wins.
 * - Results follow the nodes' input order wherever there is a choice, so that messages and
 *   orders are stable from one call to the next.
 * - No recursion: a 1000-job chain must not overflow the stack.
 */

export interface GraphNode {
  id: string;
  needs: readonly string[];
}

function index(nodes: readonly GraphNode[]): Map<string, GraphNode> {
  const byId = new Map<string, GraphNode>();
  for (const node of nodes) if (!byId.has(node.id)) byId.set(node.id, node);
  return byId;
}

/**
 * One cycle, as the ids along it with the first repeated at the end, each needing the next:
 * `["a", "b", "c", "a"]` means a needs b, b needs c, c needs a. A node that needs itself gives
 * `["a", "a"]`. Null when the graph has no cycle.
 */
export function findCycle(nodes: readonly GraphNode[]): string[] | null {
  const byId = index(nodes);
  // 0 = not visited, 1 = on the current path, 2 = done (no cycle through it).
  const state = new Map<string, 0 | 1 | 2>();
  for (const root of byId.keys()) {
    if (state.get(root)) continue;
    // An explicit DFS stack of [id, index of the next need to follow].
    const stack: [string, number][] = [[root, 0]];
    state.set(root, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const needs = byId.get(top[0])!.needs;
      if (top[1] >= needs.length) {
        state.set(top[0], 2);
        stack.pop();
        continue;
      }
      const next = needs[top[1]++]!;
      if (!byId.has(next)) continue;
      const nextState = state.get(next) ?? 0;
      if (nextState === 1) {
        // `next` is on the current path: the cycle is the path from it back to it.
        const from = stack.findIndex(([id]) => id === next);
        return [...stack.slice(from).map(([id]) => id), next];
      }
      if (nextState === 0) {
        state.set(next, 1);
        stack.push([next, 0]);
      }
    }
  }
  return null;
}

/**
 * Every id, each after all the ids it needs (Kahn's algorithm; among nodes that are ready
 * at the same time, input order wins). Null when the graph has a cycle — call `findCycle`
 * to name it.
 */
export function topologicalOrder(nodes: readonly GraphNode[]): string[] | null {
  const byId = index(nodes);
  const ids = [...byId.keys()];
  const position = new Map(ids.map((id, i) => [id, i]));
  const waitingOn = new Map<string, number>();
  const neededBy = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const [id, node] of byId) {
    const needs = new Set(node.needs.filter((need) => byId.has(need)));
    waitingOn.set(id, needs.size);
    for (const need of needs) neededBy.get(need)!.push(id);
  }
  // `ready` is kept sorted by input position; graphs here are small (≤ 1000 nodes), so a
  // sorted insert is simpler than a heap and fast enough.
  const ready = ids.filter((id) => waitingOn.get(id) === 0);
  const order: string[] = [];
  while (ready.length > 0) {
    const id = ready.shift()!;
    order.push(id);
    for (const dependent of neededBy.get(id)!) {
      const left = waitingOn.get(dependent)! - 1;
      waitingOn.set(dependent, left);
      if (left === 0) {
        const at = ready.findIndex((other) => position.get(other)! > position.get(dependent)!);
        ready.splice(at === -1 ? ready.length : at, 0, dependent);
      }
    }
  }
  return order.length === ids.length ? order : null;
}

/** Breadth-first closure from `startIds` along `edges`; the result is in input order. */
function closure(
  nodes: readonly GraphNode[],
  startIds: Iterable<string>,
  edges: (id: string) => readonly string[],
): string[] {
  const byId = index(nodes);
  const seen = new Set<string>();
  const queue = [...startIds].filter((id) => byId.has(id));
  for (const id of queue) seen.add(id);
  while (queue.length > 0) {
    for (const next of edges(queue.shift()!)) {
      if (byId.has(next) && !seen.has(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  return [...byId.keys()].filter((id) => seen.has(id));
}

/**
 * Every node that transitively needs one of `startIds`, the start nodes included: what a
 * failure or a re-run of the start nodes affects. Unknown start ids are ignored.
 */
export function downstreamOf(nodes: readonly GraphNode[], startIds: Iterable<string>): string[] {
  const neededBy = new Map<string, string[]>();
  for (const node of index(nodes).values()) {
    for (const need of node.needs) {
      const list = neededBy.get(need);
      if (list) list.push(node.id);
      else neededBy.set(need, [node.id]);
    }
  }
  return closure(nodes, startIds, (id) => neededBy.get(id) ?? []);
}

/**
 * Every node that one of `startIds` transitively needs, the start nodes included: what must
 * have finished before them (e.g. the steps whose outputs a step may read).
 */
export function upstreamOf(nodes: readonly GraphNode[], startIds: Iterable<string>): string[] {
  const byId = index(nodes);
  return closure(nodes, startIds, (id) => byId.get(id)?.needs ?? []);
}
