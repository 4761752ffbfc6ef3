/**
 * File globbing for artifact patterns, on any Node the agent supports (≥ 20: `fs.glob` is
 * Node 22's). Same rules as `fs.glob`: minimatch syntax relative to `cwd`, `*` and `**` skip
 * dotfiles, symbolic links to directories are not followed (a link loop cannot hang a job).
 * The walk descends only into directories a match could lie under, so `out/*.txt` reads `out/`
 * and not the whole checkout; nothing outside `cwd` is ever read (`../x` and `/x` match nothing).
 */
import type { Dirent } from "node:fs";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { Minimatch } from "minimatch";

/** Paths under `cwd` (files and directories, `/`-separated, relative) that match `pattern`. */
export async function* glob(pattern: string, options: { cwd: string }): AsyncGenerator<string> {
  const matcher = new Minimatch(pattern, { dot: false, nonegate: true, nocomment: true });
  const pending: string[] = [""];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    let entries: Dirent[];
    try {
      entries = await readdir(path.join(options.cwd, dir), { withFileTypes: true });
    } catch {
      continue; // gone or unreadable: like fs.glob, not an error
    }
    for (const entry of entries) {
      const rel = dir === "" ? entry.name : `${dir}/${entry.name}`;
      if (matcher.match(rel)) yield rel;
      // `partial`: could something under `rel` still match?
      if (entry.isDirectory() && matcher.match(rel, true)) pending.push(rel);
    }
  }
}
