/**
 * File globbing for artifact patterns, on any Node the agent supports (≥ 20: `fs.glob` is
 * Node 22's). Minimatch syntax relative to `cwd`; `*` and `**` skip dotfiles. The walk descends
 * only into directories a match could lie under, so `out/*.txt` reads `out/` and not the whole
 * checkout; patterns that leave `cwd` (`../x`, `/x`) match nothing.
 *
 * Symbolic links to directories are walked into when a match could lie under them, but never
 * into one that leads back to a directory already on the way down (a link loop cannot hang a
 * job). Whatever a link leads to is only listed here: agent/artifacts.ts resolves every match
 * and refuses the ones outside the work dir, naming them in the job's log.
 */
import type { Dirent } from "node:fs";
import { readdir, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { Minimatch } from "minimatch";

/** Paths under `cwd` (files and directories, `/`-separated, relative) that match `pattern`. */
export async function* glob(pattern: string, options: { cwd: string }): AsyncGenerator<string> {
  // `dist/` names the directory, as with fs.glob (minimatch alone would match nothing).
  const matcher = new Minimatch(pattern.replace(/(.)\/+$/, "$1"), { dot: false, nonegate: true, nocomment: true });
  const root = await realpath(options.cwd).catch(() => path.resolve(options.cwd));
  // Each directory to read, with the real paths of the directories above it (loop detection).
  const pending: { rel: string; chain: string[] }[] = [{ rel: "", chain: [root] }];
  while (pending.length > 0) {
    const { rel: dir, chain } = pending.pop()!;
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
      if (!matcher.match(rel, true)) continue;
      if (entry.isDirectory()) {
        pending.push({ rel, chain: [...chain, path.join(chain[chain.length - 1]!, entry.name)] });
      } else if (entry.isSymbolicLink()) {
        const target = path.join(options.cwd, rel);
        const isDir = await stat(target).then((s) => s.isDirectory(), () => false);
        const real = isDir ? await realpath(target).catch(() => null) : null;
        if (real !== null && !chain.includes(real)) pending.push({ rel, chain: [...chain, real] });
      }
    }
  }
}
