// Issue 18: artifacts between jobs, against the real `wrangler dev` and a real agent. Job
// `produce` uploads a file from inside its step (`yardmaster-agent artifact upload`) and then
// waits for a marker file this test creates: the test sees the artifact listed by the API while
// `produce` still runs, and only then lets it end. Job `consume` (needs produce) downloads it
// (`yardmaster-agent artifact download`) and checks its SHA-256 against produce's output.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "./harness.ts";

let cp: ControlPlane;
let agent: AgentProcess;
let markers: string;

/** `produce` waits at most this long for the marker, then fails: a broken test cannot hang a run. */
const MARKER_WAIT_SECONDS = 90;

const pipeline = (marker: string) => `name: pass
jobs:
  produce:
    runs-on: [artifacts-e2e]
    outputs: { sha: "\${{ steps.make.outputs.sha }}" }
    steps:
      - id: make
        run: |
          mkdir -p out
          head -c 3000000 /dev/urandom > out/payload.bin
          echo "sha=$(sha256sum out/payload.bin | cut -d' ' -f1)" >> "$YM_OUTPUT"
          yardmaster-agent artifact upload 'out/*.bin'
          i=0
          while [ ! -f '${marker}' ]; do
            i=$((i + 1)); [ "$i" -gt ${MARKER_WAIT_SECONDS * 10} ] && { echo "no marker after ${MARKER_WAIT_SECONDS} s"; exit 1; }
            sleep 0.1
          done
          echo "marker seen"
  consume:
    needs: [produce]
    runs-on: [artifacts-e2e]
    steps:
      - id: fetch
        run: |
          yardmaster-agent artifact download 'out/*' --job produce --to in
          got=$(sha256sum in/out/payload.bin | cut -d' ' -f1)
          echo "sha=$got" >> "$YM_OUTPUT"
          test "$got" = "\${{ needs.produce.outputs.sha }}"
`;

beforeAll(async () => {
  markers = mkdtempSync(join(tmpdir(), "ym-artifacts-e2e-"));
  cp = await startControlPlane();
  expect((await cp.api("POST", "/api/v1/projects", { slug: "e2e-pass" })).status).toBe(201);
  agent = await startAgent(cp, { name: "pass-agent", labels: ["artifacts-e2e"] });
}, 120_000);

afterAll(async () => {
  await stopAll();
  await cp?.stop();
  if (markers) rmSync(markers, { recursive: true, force: true });
});

const getRun = async (id: string) => (await cp.api("GET", `/api/v1/runs/${id}`)).json;
const jobOf = (run: any, key: string) => run.attempts[0].jobs.find((j: { key: string }) => j.key === key);
const explain = async (id: string) => `run: ${JSON.stringify(await getRun(id), null, 1)}\n--- agent\n${agent.output().slice(-3000)}\n--- wrangler\n${cp.output().slice(-2000)}`;

describe("artifacts between jobs", () => {
  it("an artifact uploaded mid-step is listed while its job runs; a later job downloads it and its sha256 matches", async () => {
    const marker = join(markers, "let-produce-end");
    const stored = await cp.api("PUT", "/api/v1/projects/e2e-pass/pipelines/pass", undefined, { raw: pipeline(marker), headers: { "content-type": "text/plain" } });
    expect(stored.status, stored.text).toBe(201);
    const started = await cp.api("POST", "/api/v1/projects/e2e-pass/pipelines/pass/runs", {});
    expect(started.status, started.text).toBe(201);
    const id = started.json.id as string;

    // Listed by the API while `produce` is still running (it cannot end before the marker exists).
    const listed = await waitFor(
      "the mid-step artifact to be listed",
      async () => (await cp.api("GET", `/api/v1/artifacts?run=${id}`)).json.items[0] ?? null,
      { timeoutMs: 60_000, intervalMs: 250, explain: () => explain(id) },
    );
    expect(existsSync(marker)).toBe(false);
    expect(jobOf(await getRun(id), "produce").status).toBe("RUNNING");
    expect(listed).toMatchObject({ name: "out/payload.bin", job: "produce", size: 3_000_000 });

    writeFileSync(marker, "go\n");
    const run = await waitFor(
      "the run to end",
      async () => {
        const view = await getRun(id);
        return ["SUCCESS", "FAILED", "WARNING", "KILLED"].includes(view.status) ? view : null;
      },
      { timeoutMs: 90_000, intervalMs: 250, explain: () => explain(id) },
    );
    expect(run.status, await explain(id)).toBe("SUCCESS");
    const produce = jobOf(run, "produce");
    const consume = jobOf(run, "consume");
    // The bytes the step hashed, the SHA-256 the server recorded, and what `consume` got are one.
    expect(produce.outputs.sha).toMatch(/^[0-9a-f]{64}$/);
    expect(listed.sha256).toBe(produce.outputs.sha);
    expect(consume.attempts[0].steps[0].outputs.sha).toBe(produce.outputs.sha);

    const log = async (job: string) => (await cp.api("GET", `/api/v1/runs/${id}/jobs/${job}/log`)).text;
    expect(await log("produce")).toContain(`uploaded out/payload.bin (3000000 bytes, sha256 ${produce.outputs.sha})`);
    expect(await log("consume")).toMatch(/downloaded out\/payload\.bin from job produce \(3000000 bytes, sha256 [0-9a-f]{64}\)/);
  }, 240_000);
});
