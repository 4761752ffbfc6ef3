/**
 * How big a pipeline file is once its YAML aliases are expanded. The file itself is capped
 * (`maxFileBytes`) and so is each anchor's alias count, yet aliases of aliases multiply: 128 KiB
 * can describe 1,000 jobs × 200 steps (31 MB). This walks the YAML tree before it is turned into
 * values, counting one per node plus the characters of each scalar, with every alias counted as
 * the whole node it names. Each anchored node is measured once (memoised), so the walk is linear
 * in the file, however large the expansion; it stops as soon as the limit is passed.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, type Document } from "yaml";

/** The expanded size, or `limit + 1` as soon as it is known to be past `limit`. */
export function expandedSize(doc: Document, limit: number): number {
  const measured = new Map<unknown, number>();
  const inProgress = new Set<unknown>();
  const measure = (node: unknown): number => {
    if (node === null || node === undefined) return 1;
    if (isAlias(node)) {
      const target = node.resolve(doc);
      // An alias inside the node it names is refused later (parse.ts): count it once here.
      return target === undefined || inProgress.has(target) ? 1 : measure(target);
    }
    const known = measured.get(node);
    if (known !== undefined) return known;
    inProgress.add(node);
    let size = 1;
    if (isScalar(node)) size += String(node.value ?? "").length;
    else if (isMap(node) || isSeq(node)) {
      for (const item of node.items as unknown[]) {
        size += isPair(item) ? measure(item.key) + measure(item.value) : measure(item);
        if (size > limit) break;
      }
    }
    inProgress.delete(node);
    const capped = Math.min(size, limit + 1);
    measured.set(node, capped);
    return capped;
  };
  return measure(doc.contents);
}
