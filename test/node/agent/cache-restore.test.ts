/**
 * A restore that breaks half way (the download is cut) leaves the work dir as it was; a whole
 * one lands in it, merging into existing directories (issue 18). Real files; the server's two
 * answers (lookup, download) come from a stand-in JobApi.
 */
import { createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { JobApi } from "../../../agent/protocol-client.ts";
import { restoreCaches } from "../../../agent/caches.ts";
import { writeTar } from "../../../agent/tar.ts";
import { tempDir } from "./helpers.ts";

let work: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  work = await tempDir("ym-restore-");
});
afterEach(() => work.cleanup());

async function archiveOf(dir: string, name: string): Promise<Buffer> {
  const file = path.join(work.dir, "archive.tar.gz");
  await pipeline(Readable.from(writeTar([{ name, path: path.join(dir, name) }])), createGzip(), createWriteStream(file));
  return readFile(file);
}

function apiServing(archive: Buffer): JobApi {
  return {
    lookupCache: async () => ({ hit: "exact", entry: "e1", key: "k", size: archive.length }),
    downloadCache: async () => Readable.from([archive]),
  } as unknown as JobApi;
}

describe("cache restore", () => {
  it("a cut download: a warning, nothing written into the work dir, the temp dir cleaned", async () => {
    const src = path.join(work.dir, "src");
    await mkdir(path.join(src, "deps"), { recursive: true });
    for (let i = 0; i < 20; i++) await writeFile(path.join(src, "deps", `f${i}`), Buffer.alloc(50_000, i));
    const whole = await archiveOf(src, "deps");
    const workspace = path.join(work.dir, "ws");
    const tmp = path.join(work.dir, "tmp");
    await mkdir(workspace);
    await mkdir(tmp);
    await writeFile(path.join(workspace, "checkout.txt"), "from git");
    const notes: string[] = [];
    const io = { workspace, tmpDir: tmp, signal: new AbortController().signal, note: (l: string) => notes.push(l) };

    const prepared = await restoreCaches([{ key: "k", paths: ["deps"], restoreKeys: [] }], { ...io, api: apiServing(whole.subarray(0, Math.floor(whole.length / 2))) });
    expect(notes.join("\n")).toMatch(/warning: cache k not restored/);
    expect(await readdir(workspace)).toEqual(["checkout.txt"]);
    expect(await readdir(tmp)).toEqual([]);
    expect(prepared[0]!.exactHit).toBe(false);

    notes.length = 0;
    await mkdir(path.join(workspace, "deps"));
    await writeFile(path.join(workspace, "deps", "kept"), "mine");
    const again = await restoreCaches([{ key: "k", paths: ["deps"], restoreKeys: [] }], { ...io, api: apiServing(whole) });
    expect(notes.join("\n")).toMatch(/cache hit: k, [\d.]+ MiB restored in/);
    expect((await readdir(path.join(workspace, "deps"))).length).toBe(21);
    expect(await readFile(path.join(workspace, "deps", "kept"), "utf8")).toBe("mine");
    expect(again[0]!.exactHit).toBe(true);
  });
});
