/**
 * Log bytes round-trip exactly: a real agent runs a step whose real process (`cat`) prints every
 * byte value, C0/C1 controls, ANSI CSI/OSC/DCS sequences, invalid UTF-8, HTML and script, NULs,
 * a 100 KB line and a UTF-8 character split across two chunks (test/support/hostile-bytes.ts).
 * The stored log (GET …/log), the live stream (base64 frames from since=0) and the log archived
 * to R2 after the job all hold exactly those bytes, between the agent's own header and footer:
 * nothing is escaped, replaced, normalised, lost or doubled. (The agent masks only secrets; this
 * job has none.) How the dashboard shows them: test/browser/log-bytes.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { base64ToBytes, followLive, type LiveSocket, type RunLiveEvent } from "../../domain/live.ts";
import { hostilePayload, printStep } from "../support/hostile-bytes.ts";
import { type ControlPlane, startAgent, startControlPlane, stopAll, waitFor } from "./harness.ts";

let cp: ControlPlane;
let dir: string;
const payload = hostilePayload();

beforeAll(async () => {
  // The log moves to R2 once the late-chunk grace is over (60 s by default).
  cp = await startControlPlane({ vars: { YM_LATE_LOG_GRACE_SECONDS: "3" } });
  dir = mkdtempSync(join(tmpdir(), "ym-bytes-"));
  writeFileSync(join(dir, "first.bin"), payload.first);
  writeFileSync(join(dir, "second.bin"), payload.second);
  expect((await cp.api("POST", "/api/v1/projects", { slug: "bytes" })).status).toBe(201);
});
afterAll(async () => {
  await stopAll();
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const storedLog = async (runId: string) => {
  const res = await fetch(`${cp.url}/api/v1/runs/${runId}/jobs/print/log`, { headers: { authorization: `Bearer ${cp.adminToken}` } });
  expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  return Buffer.from(await res.arrayBuffer());
};

function openSocket(url: string): Promise<LiveSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.addEventListener("error", () => reject(new Error(`cannot open ${url}`)), { once: true });
    ws.addEventListener("open", () => resolve(ws as unknown as LiveSocket), { once: true });
  });
}

/** Where the payload sits in the log, and that the rest is only the agent's own lines. */
function expectPayloadIn(log: Buffer) {
  const at = log.indexOf(payload.all);
  expect(at, "the payload is not in the log as one run of bytes").toBeGreaterThanOrEqual(0);
  expect(log.indexOf(payload.all, at + 1), "the payload is in the log twice").toBe(-1);
  const around = `${log.subarray(0, at).toString("utf8")}${log.subarray(at + payload.all.length).toString("utf8")}`;
  for (const line of around.split("\n").filter(Boolean)) expect(line, "a line the agent did not write").toMatch(/^(\x1b\[[0-9;]*m)*([▶■] step hostile |job SUCCESS in )/);
}

describe("log bytes, exactly", () => {
  it("every byte, control, escape sequence, invalid UTF-8 and HTML round-trips through the API", async () => {
    const pipeline = `name: bytes\njobs:\n  print:\n    runs-on: [bytes]\n    steps:\n      - id: hostile\n        run: ${JSON.stringify(printStep(join(dir, "first.bin"), join(dir, "second.bin")))}\n`;
    const put = await cp.api("PUT", "/api/v1/projects/bytes/pipelines/bytes", undefined, { raw: pipeline, headers: { "content-type": "text/plain" } });
    expect(put.status, put.text).toBe(201);
    const runId = (await cp.api("POST", "/api/v1/projects/bytes/pipelines/bytes/runs", {})).json.id as string;

    // A live viewer from the very start.
    const ticket = (await cp.api("POST", "/api/v1/live-tickets")).json.ticket as string;
    const live: Buffer[] = [];
    const offsets: number[] = [];
    const followed = followLive<RunLiveEvent>({
      since: 0,
      connect: (since) => openSocket(`${cp.url.replace("http", "ws")}/api/v1/runs/${runId}/live?ticket=${ticket}${since === null ? "" : `&since=${since}`}`),
      onEvent: (event) => {
        if (event.kind === "log") {
          expect(event.offset, "live chunks out of order or doubled").toBe(live.reduce((n, b) => n + b.length, 0));
          offsets.push(event.offset);
          live.push(Buffer.from(base64ToBytes(event.data)));
        }
        return event.kind === "transition" && event.entity === "run" && ["SUCCESS", "FAILED", "KILLED", "WARNING"].includes(event.to);
      },
    });

    await startAgent(cp, { name: "bytes", labels: ["bytes"] });
    const run = await waitFor("the run to end", async () => {
      const r = (await cp.api("GET", `/api/v1/runs/${runId}`)).json;
      return ["SUCCESS", "FAILED", "KILLED", "WARNING"].includes(r.status) ? r : null;
    }, { timeoutMs: 90_000, intervalMs: 250, explain: () => cp.output().slice(-2000) });
    expect(run.status).toBe("SUCCESS");

    const stored = await storedLog(runId);
    expectPayloadIn(stored);
    await Promise.race([followed, new Promise((_, reject) => setTimeout(() => reject(new Error("the live viewer never saw the end")), 30_000))]);
    expect(Buffer.compare(Buffer.concat(live), stored), "the live stream's bytes differ from the stored log").toBe(0);
    // The split character really travelled in two chunks: one ends in its middle.
    expect(offsets).toContain(stored.indexOf(payload.all) + payload.first.length);

    // Once the late-chunk grace (3 s here) is over the log moves to R2; read back from there it is the same.
    await new Promise((r) => setTimeout(r, 8_000));
    expect(Buffer.compare(await storedLog(runId), stored), "the archived log differs").toBe(0);
  }, 180_000);
});
