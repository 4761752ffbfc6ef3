// Issue 18 end to end: the real `wrangler dev` (local D1 and R2) and a real agent. A cache miss
// then a hit across two runs, a partial hit through a restore key (entries of two parts: a
// multipart save, zstd as the agent's Node has it), and deleting a run removes its
// R2 objects (read from the local R2's own index in the persist dir) and its rows.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "./harness.ts";

let cp: ControlPlane;
let agent: AgentProcess;

beforeAll(async () => {
  // Logs are archived once the late-chunk grace has passed (docs/reliability.md): 3 s here, not 60.
  cp = await startControlPlane({ vars: { YM_HEARTBEAT_SECONDS: "1", YM_LATE_LOG_GRACE_SECONDS: "3" } });
  expect((await cp.api("POST", "/api/v1/projects", { slug: "cachy" })).status).toBe(201);
  agent = await startAgent(cp, { name: "cache-agent", labels: ["linux"] });
}, 120_000);
afterAll(async () => {
  await stopAll();
  await cp?.stop();
});

const pipeline = `name: build
params:
  deps: { default: "1" }
jobs:
  build:
    runs-on: [linux]
    cache:
      key: deps-\${{ params.deps }}
      paths: [deps]
      restore-keys: [deps-]
    artifacts: [report.txt]
    steps:
      - run: |
          if [ -f deps/made-by ]; then echo "found deps made by $(cat deps/made-by)"; else echo "no deps yet"; fi
          mkdir -p deps/sub && head -c 20000000 /dev/urandom > deps/sub/blob && echo "\${{ params.deps }}" > deps/made-by
          echo report > report.txt
`;

async function runToEnd(params: Record<string, string>): Promise<{ id: string; log: string }> {
  const started = await cp.api("POST", "/api/v1/projects/cachy/pipelines/build/runs", { params });
  expect(started.status, started.text).toBe(201);
  await waitFor("the run to end", async () => {
    const view = (await cp.api("GET", `/api/v1/runs/${started.json.id}`)).json;
    return ["SUCCESS", "WARNING", "FAILED", "KILLED"].includes(view.status) ? view : null;
  }, { timeoutMs: 60_000, intervalMs: 250, explain: async () => agent.output().slice(-3000) });
  const log = await fetch(`${cp.url}/api/v1/runs/${started.json.id}/jobs/build/log`, { headers: { authorization: `Bearer ${cp.adminToken}` } }).then((r) => r.text());
  return { id: started.json.id, log };
}

/** The keys of the local R2 bucket, from miniflare's own index (the persist dir's SQLite). */
function r2Keys(): string[] {
  const dir = join(cp.persistDir, "v3", "r2", "miniflare-R2BucketObject");
  const keys: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".sqlite"))) {
    const db = new DatabaseSync(join(dir, file), { readOnly: true });
    try {
      if (!db.prepare("SELECT 1 FROM sqlite_master WHERE name = '_mf_objects'").get()) continue;
      keys.push(...(db.prepare("SELECT key FROM _mf_objects").all() as { key: string }[]).map((r) => r.key));
    } finally {
      db.close();
    }
  }
  return keys;
}

describe("caches and deletion end to end", { timeout: 240_000 }, () => {
  it("a miss, then an exact hit in the next run, then a partial hit through the restore key", async () => {
    const stored = await cp.api("PUT", "/api/v1/projects/cachy/pipelines/build", undefined, { raw: pipeline, headers: { "content-type": "text/plain" } });
    expect(stored.status, stored.text).toBeLessThan(300);

    const first = await runToEnd({ deps: "1" });
    expect(first.log).toContain("cache miss: deps-1");
    expect(first.log).toContain("no deps yet");
    // 20 MB of random bytes: more than one 16 MiB part, so the save is a multipart upload.
    expect(first.log).toMatch(/cache saved: deps-1, 19\.\d MiB/);

    const second = await runToEnd({ deps: "1" });
    expect(second.log).toMatch(/cache hit: deps-1, [\d.]+ MiB restored in/);
    expect(second.log).toContain("found deps made by 1");
    expect(second.log).toContain("exact hit, not saved again");

    const third = await runToEnd({ deps: "2" });
    expect(third.log).toMatch(/cache partial hit \(restore key matched deps-1\): deps-2/);
    expect(third.log).toContain("found deps made by 1");
    expect(third.log).toContain("cache saved: deps-2");
    expect(r2Keys().filter((k) => k.startsWith("caches/") && k.endsWith(".tar.zst"))).toHaveLength(2);
  });

  it("deleting a run removes its R2 objects and its rows", async () => {
    const run = await runToEnd({ deps: "1" });
    // Its log archive is written a few seconds after the job ends.
    await waitFor("the log archive", async () => r2Keys().some((k) => k.startsWith(`logs/${run.id}/`)) || null, { timeoutMs: 30_000, intervalMs: 250 });
    expect(r2Keys().filter((k) => k.startsWith(`artifacts/${run.id}/`))).toHaveLength(1);
    const deleted = await cp.api("DELETE", `/api/v1/runs/${run.id}`);
    expect(deleted.status, deleted.text).toBe(200);
    expect(r2Keys().filter((k) => k.includes(run.id))).toEqual([]);
    expect((await cp.api("GET", `/api/v1/runs/${run.id}`)).status).toBe(404);
    expect((await cp.api("GET", `/api/v1/artifacts?run=${run.id}`)).json.items).toEqual([]);
    expect((await cp.api("GET", "/api/v1/runs?project=cachy")).json.items.map((r: { id: string }) => r.id)).not.toContain(run.id);
  });
});
