/**
 * Where a problem of a pipeline file is: a path into the parsed YAML document mapped back to
 * the 1-based line and column of its node (or of a spot inside a string, for a template or an
 * `if:` condition), so that every refusal says where (DESIGN.md §2).
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, type Document, type Node } from "yaml";

export type Path = (string | number)[];

/** The mapping key written at `pos` (yaml's DUPLICATE_KEY error covers only its first character). */
export function keyAt(text: string, pos: number): string {
  const rest = text.slice(pos);
  const quoted = rest.match(/^(["'])(.*?)\1/);
  if (quoted) return quoted[2]!;
  return (rest.match(/^[^\n]*?(?=\s*:(?:\s|$))/)?.[0] ?? rest.slice(0, 1)).trim();
}

/** `["jobs", "test", "steps", 1, "needs"]` → `jobs.test.steps[1].needs`, for messages. */
export function pathLabel(path: Path): string {
  if (path.length === 0) return "the file";
  return path
    .map((part, i) =>
      typeof part === "number" ? `[${part}]` : /^[A-Za-z_][\w-]*$/.test(part) ? (i ? "." : "") + part : `[${JSON.stringify(part)}]`,
    )
    .join("");
}

/** Maps a path into the document (and optionally a spot inside a string) to a line and column. */
export class Locator {
  private readonly doc: Document;
  private readonly lines: LineCounter;
  private readonly text: string;

  constructor(doc: Document, lines: LineCounter, text: string) {
    this.doc = doc;
    this.lines = lines;
    this.text = text;
  }

  /** The deepest node along `path`, the key of the pair that holds it, and how far it got. */
  private walk(path: Path): { node: Node | null; key: Node | null; depth: number } {
    let node = this.doc.contents as Node | null;
    let key: Node | null = null;
    for (let depth = 0; depth < path.length; depth++) {
      if (isAlias(node)) node = (node.resolve(this.doc) as Node | undefined) ?? null;
      const part = path[depth]!;
      let next: Node | null | undefined;
      if (isMap(node)) {
        const pair = node.items.findLast((p) => isScalar(p.key) && String(p.key.value) === String(part));
        if (pair) key = pair.key as Node;
        next = pair ? ((pair.value as Node | null) ?? null) : undefined;
        if (pair && next === null) return { node: null, key, depth: depth + 1 };
      } else if (isSeq(node) && typeof part === "number") {
        next = node.items[part] as Node | undefined;
        key = null;
      }
      if (next === undefined) return { node, key, depth };
      node = next;
    }
    return { node, key, depth: path.length };
  }

  /**
   * The part of `path` that is in the file: the schema reads some scalars as if they were
   * written longhand (`needs: a` as `needs: [a]`, a cron string as `{cron: ...}`), and its
   * paths then go on past the scalar the user wrote.
   */
  inFile(path: Path): Path {
    const { node, depth } = this.walk(path);
    return depth < path.length && isScalar(node) ? path.slice(0, depth) : path;
  }

  /** Whether `path` names a key that is absent from a mapping that exists. */
  isMissingKey(path: Path): boolean {
    const found = this.walk(path);
    return found.depth === path.length - 1 && isMap(found.node) && typeof path[path.length - 1] === "string";
  }

  /**
   * Where `path` is: its key when `at` is "key"; else its value — at `template` inside it when
   * given and found verbatim in the source. A path that runs out points at the deepest node.
   */
  at(path: Path, at: "key" | "value" = "value", template?: { value: string; start: number; source: string }) {
    const { node, key, depth } = this.walk(path);
    let offset: number | undefined;
    const full = depth === path.length;
    if (at === "key" && key && full) offset = key.range?.[0];
    // A missing key: where the mapping that lacks it is named.
    else if (!full && key && !isScalar(node)) offset = key.range?.[0];
    // A block mapping or list starts on the line after its key; the key is where people look.
    else if (key && (isMap(node) || isSeq(node)) && !node.flow) offset = key.range?.[0];
    else offset = node?.range?.[0] ?? key?.range?.[0];
    if (template && node?.range && depth === path.length) {
      offset = this.findInSource(node.range, template) ?? offset;
    }
    return this.position(offset);
  }

  /**
   * A template's place in the file. Quoting, escapes and folding make value offsets differ
   * from source offsets, but a template's own text almost never contains any of them, so
   * the n-th occurrence of its text in the value is the n-th one in the node's source.
   */
  private findInSource(range: readonly number[], template: { value: string; start: number; source: string }) {
    let occurrence = 0;
    for (let i = template.value.indexOf(template.source); i !== -1 && i < template.start; ) {
      occurrence++;
      i = template.value.indexOf(template.source, i + 1);
    }
    const source = this.text.slice(range[0], range[2] ?? range[1]);
    let found = source.indexOf(template.source);
    while (found !== -1 && occurrence-- > 0) found = source.indexOf(template.source, found + 1);
    return found === -1 ? undefined : range[0]! + found;
  }

  position(offset: number | undefined): { line: number; column: number } {
    if (offset === undefined) return { line: 0, column: 0 };
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }
}
