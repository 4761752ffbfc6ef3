/**
 * Caches larger than one part, through the agent's real JobApi over HTTP (issue 18): a save
 * streamed out of gzip in parts and restored whole; a save stopped half way aborts its upload
 * and leaves no entry; a restore cut half way leaves the work dir as it was. Real files; the
 * control plane's cache routes come from a stand-in (cache-server.ts).
 */
import { createHash, randomFillSync } from "node:crypto";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CacheTooLargeError, partsOf, uploadCacheArchive } from "../../../agent/cache-upload.ts";
import { restoreCaches, SAVE_FORMAT, saveCaches } from "../../../agent/caches.ts";
import { HttpClient } from "../../../agent/client.ts";
import { silentLogger } from "../../../agent/logger.ts";
import { JobApi } from "../../../agent/protocol-client.ts";
import { CACHE_PART_BYTES } from "../../../domain/caches.ts";
import { type CacheServer, startCacheServer } from "./cache-server.ts";
import { tempDir } from "./helpers.ts";

let work: { dir: string; cleanup: () => Promise<void> };
let server: CacheServer;
beforeEach(async () => {
  work = await tempDir("ym-cache-mp-");
  server = await startCacheServer();
});
afterEach(async () => {
  await server.close();
  await work.cleanup();
});

const sha = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/** A job's dirs and cache io against the stand-in server. */
async function jobIo(name: string) {
  const workspace = path.join(work.dir, name, "ws");
  const tmpDir = path.join(work.dir, name, "tmp");
  await mkdir(workspace, { recursive: true });
  await mkdir(tmpDir, { recursive: true });
  const notes: string[] = [];
  const api = new JobApi(new HttpClient({ url: server.url, logger: silentLogger }), "ymj.test", "job-1", { baseMs: 1, capMs: 5 });
  return { workspace, tmpDir, notes, io: { api, workspace, tmpDir, signal: new AbortController().signal, note: (l: string) => notes.push(l) } };
}

/** `deps/` with incompressible files worth more than one part once gzipped, and some text. */
async function writeDeps(workspace: string): Promise<Record<string, string>> {
  const hashes: Record<string, string> = {};
  await mkdir(path.join(workspace, "deps/text"), { recursive: true });
  for (let i = 0; i < 3; i++) {
    const blob = randomFillSync(Buffer.alloc(7 * 1024 * 1024 + i));
    await writeFile(path.join(workspace, `deps/blob${i}`), blob);
    hashes[`deps/blob${i}`] = sha(blob);
  }
  const text = Buffer.from("lockfile line\n".repeat(100_000));
  await writeFile(path.join(workspace, "deps/text/lock.txt"), text);
  hashes["deps/text/lock.txt"] = sha(text);
  return hashes;
}

const cache = { key: "deps-1", paths: ["deps"], restoreKeys: [] as string[] };

describe("caches in parts", () => {
  it("cuts a stream into equal parts, the last shorter", async () => {
    const chunks = async function* () {
      for (const n of [3, 10, 1, 0, 7]) yield Buffer.alloc(n, n);
    };
    const sizes: number[] = [];
    for await (const part of partsOf(chunks(), 4)) sizes.push(part.length);
    expect(sizes).toEqual([4, 4, 4, 4, 4, 1]);
  });

  it("saves an entry of several parts and restores it whole into another job's work dir", async () => {
    const saver = await jobIo("saver");
    const hashes = await writeDeps(saver.workspace);
    await saveCaches([{ ...cache, exactHit: false }], saver.io);
    expect(saver.notes.join("\n")).toMatch(/cache saved: deps-1, [\d.]+ MiB in/);
    const entry = server.entries.get("deps-1")!;
    // zstd, as the tests' Node has it (gzip archives are restored in cache-restore.test.ts).
    expect(SAVE_FORMAT).toBe("zstd");
    expect(entry.bytes.subarray(0, 4).toString("hex")).toBe("28b52ffd");
    expect(entry.bytes.length).toBeGreaterThan(CACHE_PART_BYTES);
    expect([...server.parts.values()][0]!.size).toBe(Math.ceil(entry.bytes.length / CACHE_PART_BYTES));
    expect(await readdir(saver.tmpDir)).toEqual([]); // no temp archive

    const restorer = await jobIo("restorer");
    const prepared = await restoreCaches([cache], restorer.io);
    expect(restorer.notes.join("\n")).toMatch(/cache hit: deps-1, [\d.]+ MiB restored in/);
    expect(prepared[0]!.exactHit).toBe(true);
    for (const [file, hash] of Object.entries(hashes)) expect(sha(await readFile(path.join(restorer.workspace, file)))).toBe(hash);
  });

  it("a save refused half way aborts its upload: a warning, no entry", async () => {
    const saver = await jobIo("saver");
    await writeDeps(saver.workspace);
    server.refusePart = { partNumber: 2, status: 400 };
    await saveCaches([{ ...cache, exactHit: false }], saver.io);
    expect(saver.notes.join("\n")).toMatch(/warning: cache deps-1 not saved: .*part 2 refused/);
    expect(server.entries.size).toBe(0);
    expect(server.aborted).toHaveLength(1);
    expect(server.parts.size).toBe(0);
  });

  it("an archive past the entry limit stops there: its upload is aborted, no entry", async () => {
    const { io } = await jobIo("saver");
    const source = async function* () {
      for (let i = 0; i < 14; i++) yield randomFillSync(Buffer.alloc(4 * 1024 * 1024));
    };
    const limit = Math.floor(CACHE_PART_BYTES * 2.5); // past it while the third part fills
    await expect(uploadCacheArchive(io.api, "huge", source(), { signal: io.signal, format: "gzip", maxBytes: limit })).rejects.toBeInstanceOf(CacheTooLargeError);
    expect(server.aborted).toHaveLength(1);
    expect(server.entries.size).toBe(0);
  });

  it("a restore cut half way leaves the work dir untouched and no temp files", async () => {
    const saver = await jobIo("saver");
    await writeDeps(saver.workspace);
    await saveCaches([{ ...cache, exactHit: false }], saver.io);
    const restorer = await jobIo("restorer");
    await mkdir(path.join(restorer.workspace, "deps"));
    await writeFile(path.join(restorer.workspace, "deps/blob0"), "mine");
    server.cutDownloadAt = Math.floor(server.entries.get("deps-1")!.bytes.length * 0.6);
    const prepared = await restoreCaches([cache], restorer.io);
    expect(restorer.notes.join("\n")).toMatch(/warning: cache deps-1 not restored/);
    expect(prepared[0]!.exactHit).toBe(false);
    expect(await readdir(path.join(restorer.workspace, "deps"))).toEqual(["blob0"]);
    expect(await readFile(path.join(restorer.workspace, "deps/blob0"), "utf8")).toBe("mine");
    expect(await readdir(restorer.tmpDir)).toEqual([]);
    await rm(restorer.workspace, { recursive: true });
  });
});
