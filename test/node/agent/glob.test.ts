/**
 * The agent's glob (Node ≥ 20) finds what Node 22's `fs.glob` finds for the artifact patterns
 * people write, on a real tree; and it never reads outside the job's work dir.
 */
import { mkdir, stat, symlink, writeFile } from "node:fs/promises";
import * as fs from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { glob } from "../../../agent/glob.ts";
import { tempDir } from "./helpers.ts";

let tree: { dir: string; cleanup: () => Promise<void> };

async function collect(pattern: string, cwd: string): Promise<string[]> {
  const out: string[] = [];
  for await (const m of glob(pattern, { cwd })) out.push(m);
  return out.sort();
}

async function nodeGlob(pattern: string, cwd: string): Promise<string[]> {
  const out: string[] = [];
  for await (const m of fs.glob(pattern, { cwd })) out.push(m.split(path.sep).join("/"));
  return out.sort();
}

/** The files among the matches: what becomes artifacts (a matched directory brings its files). */
async function filesOnly(names: string[], cwd: string): Promise<string[]> {
  const out: string[] = [];
  for (const n of names) if ((await stat(path.join(cwd, n)).catch(() => undefined))?.isFile()) out.push(n);
  return out;
}

beforeAll(async () => {
  tree = await tempDir("ym-glob-");
  const files = [
    "report.json",
    "small.txt",
    ".hidden.txt",
    "out/a.txt",
    "out/skip.txt",
    "out/deep/b.txt",
    "out/deep/c.bin",
    "out/.cache/d.txt",
    "dist/app.js",
    "dist/app.js.map",
    "odd [1]/e.txt",
    "pkg-{x}/f.txt",
  ];
  for (const f of files) {
    await mkdir(path.dirname(path.join(tree.dir, f)), { recursive: true });
    await writeFile(path.join(tree.dir, f), f);
  }
  // A link back to the top: following it would never end.
  await symlink(tree.dir, path.join(tree.dir, "out/loop"));
});

afterAll(() => tree?.cleanup());

describe("the agent's glob", () => {
  const patterns = [
    "*.txt",
    "*.json",
    "out/**",
    "out/**/*.txt",
    "**/*.bin",
    "dist/*.{js,map}",
    "out/deep",
    "out/deep/",
    "missing/*.xml",
    "report.json",
  ];
  for (const pattern of patterns) {
    it(`"${pattern}" matches the files fs.glob matches`, async () => {
      const ours = await collect(pattern, tree.dir);
      expect(await filesOnly(ours, tree.dir)).toEqual(await filesOnly(await nodeGlob(pattern, tree.dir), tree.dir));
    });
  }

  it("matches a directory named by a pattern (its files are added by the artifact code)", async () => {
    expect(await collect("out/deep", tree.dir)).toEqual(["out/deep"]);
  });

  it("takes escaped special characters literally (how a matched directory with [ or { is expanded)", async () => {
    expect(await collect("odd \\[1\\]/*", tree.dir)).toEqual(["odd [1]/e.txt"]);
    expect(await collect("pkg-\\{x\\}/**", tree.dir)).toEqual(["pkg-{x}/f.txt"]);
  });

  it("reads nothing outside the work dir", async () => {
    const inner = path.join(tree.dir, "out");
    expect(await collect("../*.json", inner)).toEqual([]);
    expect(await collect(`${tree.dir}/*.json`, inner)).toEqual([]);
  });

  it("does not follow a symbolic link into a loop", async () => {
    const all = await collect("**", tree.dir);
    expect(all).toContain("out/loop");
    expect(all.some((p) => p.startsWith("out/loop/"))).toBe(false);
  });
});
