/**
 * What a GitHub webhook delivery means for Yardmaster (docs/triggers.md): a `ping`, a push to a
 * branch, a pull request opened or updated — or something that starts nothing, with the reason.
 * Pure: the worker checks the signature and records the delivery; this only reads the payload.
 */
import { z } from "zod";

/** Pull-request actions that start runs (GitHub Actions' defaults): the code to test changed. */
export const PULL_REQUEST_ACTIONS = ["opened", "synchronize", "reopened"] as const;

export type GithubEvent =
  | { kind: "ping" }
  | { kind: "push"; branch: string; commit: string }
  | {
      kind: "pull_request";
      action: string;
      number: number;
      /** The head (source) branch and commit: what the run builds. */
      branch: string;
      commit: string;
      /** The base branch the pull request merges into: what `on.pull_request.branches` filters. */
      base: string;
      /** The head lives in another repository (a fork): its runs get no secrets. */
      fromFork: boolean;
    }
  | { kind: "ignored"; reason: string };

export type Interpretation =
  | { ok: true; event: GithubEvent; action: string | null; branch: string | null; commit: string | null }
  | { ok: false; message: string };

const NULL_SHA = /^0+$/;

const Push = z.object({
  ref: z.string(),
  after: z.string(),
  deleted: z.boolean().optional(),
});

const Repo = z.object({ full_name: z.string() }).nullable().optional();
const PullRequest = z.object({
  action: z.string(),
  number: z.number().int(),
  pull_request: z.object({
    head: z.object({ ref: z.string(), sha: z.string(), repo: Repo }),
    base: z.object({ ref: z.string(), repo: Repo }),
  }),
});

function invalid(event: string, error: z.ZodError): Interpretation {
  const issue = error.issues[0]!;
  return { ok: false, message: `the ${event} payload is not what GitHub sends: ${issue.path.join(".") || "body"}: ${issue.message}` };
}

/** Reads a delivery's `X-GitHub-Event` and JSON body. */
export function interpretGithubEvent(event: string, payload: unknown): Interpretation {
  switch (event) {
    case "ping":
      return { ok: true, event: { kind: "ping" }, action: null, branch: null, commit: null };
    case "push": {
      const parsed = Push.safeParse(payload);
      if (!parsed.success) return invalid(event, parsed.error);
      const { ref, after, deleted } = parsed.data;
      const ignored = (reason: string, branch: string | null = null): Interpretation => ({
        ok: true,
        event: { kind: "ignored", reason },
        action: null,
        branch,
        commit: NULL_SHA.test(after) ? null : after,
      });
      if (ref.startsWith("refs/tags/")) return ignored(`a tag push (${ref.slice("refs/tags/".length)}) starts no run`);
      if (!ref.startsWith("refs/heads/")) return ignored(`${ref} is not a branch`);
      const branch = ref.slice("refs/heads/".length);
      if (deleted === true || NULL_SHA.test(after)) return ignored(`branch ${branch} was deleted`, branch);
      return { ok: true, event: { kind: "push", branch, commit: after }, action: null, branch, commit: after };
    }
    case "pull_request": {
      const parsed = PullRequest.safeParse(payload);
      if (!parsed.success) return invalid(event, parsed.error);
      const { action, number, pull_request: pr } = parsed.data;
      const summary = { action, branch: pr.head.ref, commit: pr.head.sha };
      if (!(PULL_REQUEST_ACTIONS as readonly string[]).includes(action)) {
        return { ok: true, event: { kind: "ignored", reason: `pull request action '${action}' starts no run` }, ...summary };
      }
      const headRepo = pr.head.repo?.full_name ?? null;
      const baseRepo = pr.base.repo?.full_name ?? null;
      return {
        ok: true,
        event: {
          kind: "pull_request",
          action,
          number,
          branch: pr.head.ref,
          commit: pr.head.sha,
          base: pr.base.ref,
          // A head repository that is gone (deleted fork) is treated as a fork too.
          fromFork: headRepo === null || headRepo !== baseRepo,
        },
        ...summary,
      };
    }
    default:
      return { ok: true, event: { kind: "ignored", reason: `event '${event}' starts no run` }, action: null, branch: null, commit: null };
  }
}
