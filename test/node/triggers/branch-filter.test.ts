import { describe, expect, it } from "vitest";
import { branchMatches } from "../../../domain/triggers/branch-filter.ts";
import { matchingPipelines } from "../../../domain/triggers/match.ts";

describe("branch filters (on.push.branches, on.pull_request.branches)", () => {
  it("matches globs as GitHub Actions does: * within a segment, ** across", () => {
    expect(branchMatches(["main", "release/*"], "main")).toBe(true);
    expect(branchMatches(["main", "release/*"], "release/1.2")).toBe(true);
    expect(branchMatches(["main", "release/*"], "release/1.2/hotfix")).toBe(false);
    expect(branchMatches(["release/**"], "release/1.2/hotfix")).toBe(true);
    expect(branchMatches(["main"], "feature/main")).toBe(false);
    expect(branchMatches(["**"], "feature/x")).toBe(true);
    expect(branchMatches(["feat-{a,b}"], "feat-b")).toBe(true);
  });

  it("takes every branch when the list is empty", () => {
    expect(branchMatches([], "anything/at/all")).toBe(true);
  });

  it("lets the last matching glob decide, with ! excluding", () => {
    const globs = ["release/**", "!release/old/**"];
    expect(branchMatches(globs, "release/2.0")).toBe(true);
    expect(branchMatches(globs, "release/old/1.0")).toBe(false);
    expect(branchMatches(["!wip/*"], "main")).toBe(true);
    expect(branchMatches(["!wip/*"], "wip/x")).toBe(false);
    expect(branchMatches(["**", "!wip/*", "wip/keep"], "wip/keep")).toBe(true);
  });
});

describe("matchingPipelines", () => {
  const pipelines = [
    { name: "ci", on: { push: { branches: ["main", "release/*"] }, pullRequest: { branches: [] } } },
    { name: "nightly", on: { schedule: ["0 3 * * *"] } },
    { name: "docs", on: { push: { branches: ["**"] } } },
    { name: "manual", on: {} },
  ];

  it("starts the pipelines whose push filter matches the branch", () => {
    expect(matchingPipelines(pipelines, { kind: "push", branch: "main" }).map((p) => p.name)).toEqual(["ci", "docs"]);
    expect(matchingPipelines(pipelines, { kind: "push", branch: "feature/x" }).map((p) => p.name)).toEqual(["docs"]);
  });

  it("starts the pipelines with a pull_request trigger matching the base branch", () => {
    expect(matchingPipelines(pipelines, { kind: "pull_request", base: "develop" }).map((p) => p.name)).toEqual(["ci"]);
  });
});
