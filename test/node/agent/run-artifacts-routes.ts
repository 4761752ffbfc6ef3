/**
 * The run-artifact routes (worker/routes/agent-run-artifacts.ts) on the agent tests' protocol
 * server: every job the server knows is of one run. Faults per artifact name: `corrupt` sends
 * other bytes than were uploaded, `drop` breaks the connection half way (for the next `n`
 * downloads), `stall` sends half and then nothing more (until the server closes).
 */
import { createHash } from "node:crypto";
import type http from "node:http";
import type { ArtifactView } from "../../../domain/views.ts";
import type { ArtifactRecord, JobRecord, ProtocolServer } from "./protocol-server.ts";

export type DownloadFault = "corrupt" | "stall" | { drop: number };

const idOf = (job: JobRecord, a: ArtifactRecord) => createHash("sha256").update(`${job.assignment.job.attemptId}\n${a.name}`).digest("hex").slice(0, 32);

function view(job: JobRecord, a: ArtifactRecord): ArtifactView {
  const { run, job: j } = job.assignment;
  return {
    id: idOf(job, a),
    run: run.id,
    runNumber: run.number,
    project: run.project,
    pipeline: run.pipeline,
    attempt: run.attempt,
    job: j.key,
    jobAttemptId: j.attemptId,
    name: a.name,
    size: a.size,
    sha256: a.sha256,
    contentType: a.contentType,
    createdAt: new Date(0).toISOString(),
  };
}

function send(res: http.ServerResponse, status: number, body: unknown): true {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
  return true;
}

/** Serves the run's artifacts on `server`; answers how many downloads each name had. */
export function serveRunArtifacts(server: ProtocolServer, faults: Map<string, DownloadFault> = new Map()): Map<string, number> {
  const downloads = new Map<string, number>();
  server.jobRoutes.push((_job, { method, rest, url, res }) => {
    if (method !== "GET" || !rest.startsWith("/run/artifacts")) return false;
    const all = [...server.jobs.values()].flatMap((j) => [...j.artifacts.values()].map((a) => ({ j, a })));
    if (rest === "/run/artifacts") {
      const only = url.searchParams.get("job");
      return send(res, 200, { items: all.filter(({ j }) => only === null || j.assignment.job.key === only).map(({ j, a }) => view(j, a)), cursor: null });
    }
    const id = rest.slice("/run/artifacts/".length);
    const found = all.find(({ j, a }) => idOf(j, a) === id);
    if (!found) return send(res, 404, { error: { code: "artifact_not_found", message: `no artifact ${id}` } });
    const { name, body } = found.a;
    downloads.set(name, (downloads.get(name) ?? 0) + 1);
    const fault = faults.get(name);
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": body.length });
    if (fault === "corrupt") {
      res.end(Buffer.concat([Buffer.from([body[0]! ^ 0xff]), body.subarray(1)]));
    } else if (fault === "stall") {
      res.write(body.subarray(0, Math.floor(body.length / 2)));
    } else if (fault && fault.drop > 0) {
      fault.drop -= 1;
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
    } else {
      res.end(body);
    }
    return true;
  });
  return downloads;
}
