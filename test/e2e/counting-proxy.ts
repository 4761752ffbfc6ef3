/**
 * An HTTP proxy between a real agent and `wrangler dev` that records every call passing it: how
 * a job's agent calls are counted at the wire, by test/e2e/agent-calls.test.ts (which asserts
 * them) and by the benchmark "writes" (which reports them), the same way in both.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { type ControlPlane, waitFor } from "./harness.ts";

export interface Call {
  method: string;
  path: string;
  status: number;
  start: number;
  end: number;
}

export interface CountingProxy {
  /** The proxy's origin, to give an agent instead of the control plane's. */
  url: string;
  /** Every call so far, in the order they arrived; a call not yet answered has `end` 0. */
  calls: Call[];
  close(): Promise<void>;
}

export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const calls: Call[] = [];
  const server = http.createServer((req, res) => {
    const call: Call = { method: req.method ?? "", path: req.url ?? "", status: 0, start: Date.now(), end: 0 };
    calls.push(call);
    const upstream = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
      answer.on("end", () => Object.assign(call, { status: answer.statusCode ?? 0, end: Date.now() }));
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () =>
      new Promise((resolve) => {
        // The agent's long-poll claim would hold it open.
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Triggers the stored one-job pipeline `pipeline` of `project`, waits for its run to end SUCCESS
 * (the one agent behind `proxy` runs it), and returns the job's calls: the claim that brought it,
 * then every call naming its attempt, once all are answered. Calls answered before are forgotten
 * first; the agent's claim still held (the one the job will answer) is kept.
 */
export async function callsOfOneJob(cp: ControlPlane, proxy: CountingProxy, project: string, pipeline: string): Promise<Call[]> {
  proxy.calls.splice(0, proxy.calls.length, ...proxy.calls.filter((c) => c.end === 0));
  const triggered = await cp.api("POST", `/api/v1/projects/${project}/pipelines/${pipeline}/runs`, { branch: "main" });
  if (triggered.status !== 201) throw new Error(`trigger ${project}/${pipeline}: ${triggered.status} ${triggered.text}`);
  const runId = triggered.json.id as string;
  const ended = await waitFor(
    `run ${runId} to end`,
    async () => {
      const view = (await cp.api("GET", `/api/v1/runs/${runId}`)).json;
      return ["SUCCESS", "FAILED", "KILLED", "WARNING"].includes(view.status) ? view : null;
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  if (ended.status !== "SUCCESS") throw new Error(`run ${runId} ended ${ended.status}`);
  const attemptId = ended.attempts[0].jobs[0].attempts[0].id as string;
  const jobCalls = proxy.calls.filter((c) => c.path.includes(`/jobs/${attemptId}/`));
  await waitFor("the job's calls to be answered", async () => jobCalls.every((c) => c.end > 0) || null, { timeoutMs: 10_000, intervalMs: 20 });
  const claim = proxy.calls.find((c) => c.path.endsWith("/claim") && c.status === 200);
  if (!claim) throw new Error(`no answered claim before run ${runId}'s job: ${JSON.stringify(proxy.calls)}`);
  return [claim, ...jobCalls];
}
