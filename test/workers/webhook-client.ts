/** Delivers webhooks to the worker inside workerd tests, signed as GitHub signs them. */
import examples from "@octokit/webhooks-examples";
import { sign } from "@octokit/webhooks-methods";
import { exports } from "cloudflare:workers";
import { readReply } from "../support/reply.ts";
import { api } from "./api-client.ts";

export const WEBHOOK_SECRET = "webhook-secret-for-tests-0123456789";

/** GitHub's example payloads of an event (deep copies: tests may change them). */
export function githubExamples(event: string): any[] {
  const entry = examples.find((e) => e.name === event);
  if (!entry) throw new Error(`no examples of ${event}`);
  return structuredClone(entry.examples as any[]);
}

/**
 * A push to `branch` with a commit of its own: each call is a different body, as each real
 * push is (the same body twice is the same delivery: it starts runs once).
 */
export const pushTo = (branch: string) => {
  const push = githubExamples("push").find((p) => p.ref === "refs/heads/master" && !p.deleted)!;
  const after = [...crypto.getRandomValues(new Uint8Array(20))].map((b) => b.toString(16).padStart(2, "0")).join("");
  return { ...push, ref: `refs/heads/${branch}`, after, head_commit: push.head_commit && { ...push.head_commit, id: after } };
};

export async function post(path: string, body: string, headers: Record<string, string>) {
  return readReply(await exports.default.fetch(`http://yardmaster.test${path}`, { method: "POST", headers, body }));
}

export async function deliverGithub(
  project: string,
  event: string,
  payload: unknown,
  options: { delivery?: string; secret?: string; signature?: string | null } = {},
) {
  const body = JSON.stringify(payload);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "x-github-event": event,
    "x-github-delivery": options.delivery ?? crypto.randomUUID(),
    "user-agent": "GitHub-Hookshot/test",
  };
  const signature = options.signature === undefined ? await sign(options.secret ?? WEBHOOK_SECRET, body) : options.signature;
  if (signature !== null) headers["x-hub-signature-256"] = signature;
  return post(`/api/v1/webhooks/github/${project}`, body, headers);
}

/** A project with the tests' webhook secret and the given pipelines stored. */
export async function projectWithPipelines(slug: string, files: Record<string, string>) {
  const created = await api("POST", "/api/v1/projects", { body: { slug, webhookSecret: WEBHOOK_SECRET } });
  if (created.status !== 201) throw new Error(`project: ${created.status} ${created.text}`);
  for (const [name, text] of Object.entries(files)) {
    const stored = await api("PUT", `/api/v1/projects/${slug}/pipelines/${name}`, { raw: text, headers: { "content-type": "text/plain" } });
    if (stored.status !== 201) throw new Error(`pipeline ${name}: ${stored.status} ${stored.text}`);
  }
  return created.json;
}

export const pipelineFile = (name: string, on: string, extra = "") => `name: ${name}
on: ${on}
${extra}jobs:
  build:
    runs-on: [${name}-agent]
    steps:
      - run: echo building
`;

export async function runsOf(project: string) {
  const list = await api("GET", `/api/v1/runs?project=${project}&limit=100`);
  if (list.status !== 200) throw new Error(`runs: ${list.status} ${list.text}`);
  return list.json.items as any[];
}
