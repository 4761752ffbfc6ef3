/**
 * Driving runs through the real agent protocol in workerd tests. Each test gives its pipeline
 * its own agent label so that jobs left queued by another test of the file (the dispatcher is
 * shared within a file) are never claimed by the wrong agent.
 */
import { expect } from "vitest";
import { api } from "./api-client.ts";
import { claim, job, registerAgent } from "./agent-client.ts";

/** build → test → deploy, and lint on its own; build outputs a version that deploy uses. */
export function labelledPipeline(label: string): string {
  return `name: build
jobs:
  build:
    runs-on: [${label}]
    steps:
      - id: compile
        run: make
    outputs: { version: "\${{ steps.compile.outputs.version }}" }
  test:
    needs: [build]
    runs-on: [${label}]
    steps:
      - id: unit
        run: npm test
  lint:
    runs-on: [${label}]
    steps:
      - id: eslint
        run: eslint .
  deploy:
    needs: [build, test]
    runs-on: [${label}]
    steps:
      - id: ship
        run: ./deploy.sh \${{ needs.build.outputs.version }}
`;
}

export interface Claimed {
  token: string;
  run: { id: string; attempt: number };
  job: { attemptId: string; key: string; attempt: number };
  steps: { id: string; run: string }[];
}

/** An agent with `label`, registered through the API. */
export async function agentWith(label: string) {
  return registerAgent(`agent-${label}`, [label]);
}

/** Claims the next job for the agent (waiting up to 5 s for one to be queued). */
export async function claimNext(agentToken: string): Promise<Claimed> {
  const res = await claim(agentToken, 5);
  expect(res.status, `claim: ${res.text}`).toBe(200);
  return res.json as Claimed;
}

/** Runs a claimed job's steps and finishes it: every step succeeds, or the last one fails. */
export async function runClaimed(claimed: Claimed, status: "SUCCESS" | "FAILED", outputs: Record<string, string> = {}) {
  const j = job(claimed.token, claimed.job.attemptId);
  for (const [i, s] of claimed.steps.entries()) {
    expect((await j.step(s.id, { attempt: 1, status: "RUNNING" })).status).toBe(200);
    const failed = status === "FAILED" && i === claimed.steps.length - 1;
    const end = await j.step(s.id, { attempt: 1, status: failed ? "FAILED" : "SUCCESS", exitCode: failed ? 1 : 0, outputs });
    expect(end.status).toBe(200);
  }
  const finished = await j.finish({ status, outputs });
  expect(finished.status, finished.text).toBe(200);
}

export async function getRun(runId: string) {
  const res = await api("GET", `/api/v1/runs/${runId}`);
  expect(res.status).toBe(200);
  return res.json;
}

/** A job of a run attempt (default: the current one) by key. */
export function jobOf(run: any, key: string, attempt = run.attempt) {
  return run.attempts[attempt - 1].jobs.find((j: any) => j.key === key);
}
