// Issue 20 item 5: with a server that takes the SHA-256 at a multipart upload's end (protocol 2),
// the agent reads each artifact once — hashing the bytes it sends — and keeps more parts in
// flight while the throughput grows. Real files on disk, the protocol's test server.
import { createHash, randomBytes } from "node:crypto";
import { open, writeFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { BYTES_IN_FLIGHT_MAX, HASHED_PART_BYTES, MAX_PARTS_IN_FLIGHT, PartWindow, uploadArtifact } from "../../../agent/artifacts.ts";
import { eachTestServer, testApi } from "./helpers.ts";
import { makeAssignment } from "./protocol-server.ts";

const ctx = eachTestServer();
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function upload(name: string, bytes: Buffer) {
  const file = path.join(ctx.dir, name);
  await writeFile(file, bytes);
  const job = makeAssignment();
  const record = ctx.server.addJob(job);
  const api = testApi(ctx.server);
  const result = await uploadArtifact(
    { name, path: file, size: bytes.length },
    { api: api.job(job.token, job.job.attemptId), signal: new AbortController().signal, maxBytes: 1024 ** 3, hashAsSent: true },
  );
  api.http.close();
  return { result, record };
}

describe("artifacts read once, hashed as they leave", () => {
  it("a large file goes up in parts, several at once, and the SHA-256 of what was sent is checked at the end", async () => {
    ctx.server.partDelayMs = 30;
    const bytes = randomBytes(6 * HASHED_PART_BYTES + 12345);
    const { result, record } = await upload("big.bin", bytes);
    const stored = record.artifacts.get("big.bin")!;
    expect(stored.multipart).toBe(true);
    expect(stored.body.equals(bytes)).toBe(true);
    expect(result.sha256).toBe(sha(bytes));
    expect(stored.sha256).toBe(sha(bytes));
    expect(ctx.server.mostPartsInFlight).toBeGreaterThanOrEqual(2);
    expect(ctx.server.mostPartsInFlight).toBeLessThanOrEqual(MAX_PARTS_IN_FLIGHT);
    expect(ctx.server.mostPartsInFlight * HASHED_PART_BYTES).toBeLessThanOrEqual(BYTES_IN_FLIGHT_MAX); // the agent's memory
  });

  it("reads the file once: every byte read is a byte sent", async () => {
    const bytes = randomBytes(3 * HASHED_PART_BYTES + 1);
    const file = path.join(ctx.dir, "counted.bin");
    await writeFile(file, bytes);
    // Count what the upload reads through its file handle (the only way it reads the file).
    const probe = await open(file);
    const FileHandle = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => Promise<{ bytesRead: number }> };
    await probe.close();
    let read = 0;
    const original = FileHandle.read;
    const spy = vi.spyOn(FileHandle, "read").mockImplementation(async function (this: unknown, ...args: unknown[]) {
      const answer = await original.apply(this, args);
      read += answer.bytesRead;
      return answer;
    });
    try {
      const { record } = await upload("counted.bin", bytes);
      expect(record.artifacts.get("counted.bin")!.body.equals(bytes)).toBe(true);
    } finally {
      spy.mockRestore();
    }
    expect(read).toBe(bytes.length);
  });

  it("a small file is read whole and sent in one PUT", async () => {
    const bytes = randomBytes(100_000);
    const { record } = await upload("small.bin", bytes);
    const stored = record.artifacts.get("small.bin")!;
    expect([stored.multipart, stored.body.equals(bytes), stored.sha256]).toEqual([false, true, sha(bytes)]);
  });

  it("the window of parts grows while the throughput grows, up to 8, and holds when it stops growing", () => {
    vi.useFakeTimers({ toFake: ["performance"] });
    try {
      const window = new PartWindow();
      expect(window.size).toBe(2);
      // Parts finish faster and faster (the link had room): one more at a time.
      for (let i = 0; i < 10; i++) {
        vi.advanceTimersByTime(10);
        window.partDone(HASHED_PART_BYTES * (i + 1));
      }
      expect(window.size).toBe(MAX_PARTS_IN_FLIGHT);
      const steady = new PartWindow();
      for (let i = 0; i < 10; i++) {
        vi.advanceTimersByTime(100);
        steady.partDone(HASHED_PART_BYTES);
      }
      // The first part sets the pace; the same rate after it is no reason to send more at once.
      expect(steady.size).toBe(3);
      // The bytes in flight bound it too: with parts so large that 3 fill the budget, 3 at most;
      // with a part larger than the budget, one at a time.
      const bounded = new PartWindow(3);
      for (let i = 0; i < 10; i++) {
        vi.advanceTimersByTime(10);
        bounded.partDone(HASHED_PART_BYTES * (i + 1));
      }
      expect([bounded.size, new PartWindow(1).size]).toEqual([3, 1]);
    } finally {
      vi.useRealTimers();
    }
  });
});
