/** Speaks the agent protocol over the worker's HTTP API inside workerd tests. */
import { api } from "./api-client.ts";

export async function registerAgent(name: string, labels: string[], registrationToken?: string) {
  const token = registrationToken ?? (await api("POST", "/api/v1/agent-tokens", { body: { name } })).json.token;
  const res = await api("POST", "/api/agent/v1/register", { token, body: { name, labels, version: "test" } });
  if (res.status !== 201) throw new Error(`register: ${res.status} ${res.text}`);
  return res.json as { agentId: string; token: string };
}

export async function claim(agentToken: string, waitSeconds = 0, protocol?: number) {
  return api("POST", "/api/agent/v1/claim", { token: agentToken, body: { waitSeconds, ...(protocol ? { protocol } : {}) } });
}

/** Protocol 2's report: the JSON line, then the log bytes when `log` is given. */
export function report(token: string, jobAttemptId: string, body: unknown, log?: { seq: number; offset: number; bytes: Uint8Array }) {
  const line = new TextEncoder().encode(`${JSON.stringify(body)}\n`);
  const raw = log ? new Uint8Array([...line, ...log.bytes]) : line;
  const query = log ? `?seq=${log.seq}&offset=${log.offset}` : "";
  return api("POST", `/api/agent/v2/jobs/${jobAttemptId}/report${query}`, { token, raw, headers: { "content-type": "application/octet-stream" } });
}

export function job(token: string, jobAttemptId: string) {
  const base = `/api/agent/v1/jobs/${jobAttemptId}`;
  return {
    step: (stepId: string, body: unknown) => api("POST", `${base}/steps/${stepId}`, { token, body }),
    finish: (body: unknown) => api("POST", `${base}/finish`, { token, body }),
    heartbeat: () => api("POST", `${base}/heartbeat`, { token }),
    log: (seq: number, offset: number, bytes: Uint8Array) =>
      api("POST", `${base}/logs?seq=${seq}&offset=${offset}`, { token, raw: bytes, headers: { "content-type": "application/octet-stream" } }),
    artifact: (name: string, bytes: Uint8Array, sha256: string) =>
      api("PUT", `${base}/artifacts?name=${encodeURIComponent(name)}&sha256=${sha256}&size=${bytes.byteLength}&contentType=text/plain`, {
        token,
        raw: bytes,
        headers: { "content-type": "application/octet-stream", "content-length": String(bytes.byteLength) },
      }),
  };
}

export async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
