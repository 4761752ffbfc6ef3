/**
 * Branch filters of `on: push` and `on: pull_request` (docs/triggers.md). A filter is a list of
 * globs (minimatch: `*` stays within one `/` segment, `**` crosses them). As in GitHub Actions,
 * a glob starting with `!` excludes, and the last glob that matches a branch decides — so
 * `[ "release/**", "!release/old/**" ]` takes every release branch but the old ones.
 */
import { minimatch } from "minimatch";

// `!` is handled here (ordered, last match wins), not by minimatch; `#` is a character, not a comment.
const OPTIONS = { dot: true, nocomment: true, nonegate: true } as const;

/** Whether `branch` passes `globs`; an empty list takes every branch. */
export function branchMatches(globs: readonly string[], branch: string): boolean {
  if (globs.length === 0) return true;
  let matched = false;
  // A list of only exclusions means "every branch but these".
  if (globs.every((g) => g.startsWith("!"))) matched = true;
  for (const glob of globs) {
    const exclude = glob.startsWith("!");
    const pattern = exclude ? glob.slice(1) : glob;
    if (minimatch(branch, pattern, OPTIONS)) matched = !exclude;
  }
  return matched;
}
