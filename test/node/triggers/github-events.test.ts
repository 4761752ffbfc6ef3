/** GitHub's own example payloads (@octokit/webhooks-examples), read as Yardmaster reads them. */
import examples from "@octokit/webhooks-examples";
import { describe, expect, it } from "vitest";
import { interpretGithubEvent } from "../../../domain/triggers/github-events.ts";

const payloads = (event: string) => (examples as unknown as { name: string; examples: unknown[] }[]).find((e) => e.name === event)!.examples as any[];

describe("interpretGithubEvent", () => {
  it("reads a branch push as its branch and head commit", () => {
    const push = payloads("push").find((p) => p.ref === "refs/heads/master" && !p.deleted)!;
    const meaning = interpretGithubEvent("push", push);
    expect(meaning).toMatchObject({ ok: true, event: { kind: "push", branch: "master", commit: push.after }, branch: "master", commit: push.after });
  });

  it("starts nothing for a tag push or a deleted tag", () => {
    for (const tag of payloads("push").filter((p) => p.ref.startsWith("refs/tags/"))) {
      const meaning = interpretGithubEvent("push", tag);
      expect(meaning.ok && meaning.event.kind).toBe("ignored");
    }
  });

  it("starts nothing for a deleted branch", () => {
    const push = structuredClone(payloads("push").find((p) => p.ref === "refs/heads/master")!);
    Object.assign(push, { ref: "refs/heads/feature/gone", deleted: true, after: "0".repeat(40) });
    const meaning = interpretGithubEvent("push", push);
    expect(meaning).toMatchObject({ ok: true, event: { kind: "ignored", reason: "branch feature/gone was deleted" }, commit: null });
  });

  it("reads opened, synchronize and reopened pull requests as their head branch and commit, filtered by base", () => {
    for (const action of ["opened", "synchronize", "reopened"]) {
      const pr = payloads("pull_request").find((p) => p.action === action)!;
      const meaning = interpretGithubEvent("pull_request", pr);
      expect(meaning).toMatchObject({
        ok: true,
        event: { kind: "pull_request", action, branch: pr.pull_request.head.ref, commit: pr.pull_request.head.sha, base: pr.pull_request.base.ref, fromFork: false },
      });
    }
  });

  it("starts nothing for other pull request actions", () => {
    for (const pr of payloads("pull_request").filter((p) => !["opened", "synchronize", "reopened"].includes(p.action))) {
      const meaning = interpretGithubEvent("pull_request", pr);
      expect(meaning.ok && meaning.event.kind).toBe("ignored");
    }
  });

  it("marks a pull request from a fork", () => {
    const pr = structuredClone(payloads("pull_request").find((p) => p.action === "opened")!);
    pr.pull_request.head.repo.full_name = "someone/Hello-World";
    const meaning = interpretGithubEvent("pull_request", pr);
    expect(meaning.ok && meaning.event.kind === "pull_request" && meaning.event.fromFork).toBe(true);
  });

  it("reads ping, ignores other events, and says what is wrong with a payload GitHub would not send", () => {
    expect(interpretGithubEvent("ping", payloads("ping")[0])).toMatchObject({ ok: true, event: { kind: "ping" } });
    expect(interpretGithubEvent("issues", {})).toMatchObject({ ok: true, event: { kind: "ignored", reason: "event 'issues' starts no run" } });
    const bad = interpretGithubEvent("push", { ref: 42 });
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.message).toMatch(/^the push payload is not what GitHub sends: ref: /);
  });
});
