/** The cache archive (tar + gzip, streamed) and hashFiles, on real files (issue 18). */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { lstat, mkdir, readFile, readlink, readdir, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip, createGzip } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hashFiles } from "../../../agent/caches.ts";
import { extractTar, TarError, writeTar } from "../../../agent/tar.ts";
import { renderHashFiles } from "../../../domain/caches.ts";
import { tempDir } from "./helpers.ts";

let work: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  work = await tempDir("ym-cache-");
});
afterEach(() => work.cleanup());

async function roundTrip(sources: { name: string; path: string }[], into: string) {
  const archive = path.join(work.dir, "cache.tar.gz");
  await pipeline(Readable.from(writeTar(sources)), createGzip(), createWriteStream(archive));
  await mkdir(into, { recursive: true });
  return extractTar(createReadStream(archive).pipe(createGunzip()), into);
}

describe("cache archive", () => {
  it("round-trips files, empty files, nested dirs, dotfiles, long names and symbolic links", async () => {
    const src = path.join(work.dir, "src");
    const long = `${"d".repeat(60)}/${"e".repeat(60)}/${"f".repeat(80)}.txt`;
    await mkdir(path.join(src, "deps/.bin"), { recursive: true });
    await mkdir(path.join(src, path.dirname(long)), { recursive: true });
    const big = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251;
    await writeFile(path.join(src, "deps/big.bin"), big);
    await writeFile(path.join(src, "deps/empty"), "");
    await writeFile(path.join(src, "deps/.hidden"), "dot\n");
    await writeFile(path.join(src, long), "long name\n");
    await symlink("../big.bin", path.join(src, "deps/.bin/tool"));
    const out = path.join(work.dir, "out");
    const entries = await roundTrip(
      [
        { name: "deps", path: path.join(src, "deps") },
        { name: "d".repeat(60), path: path.join(src, "d".repeat(60)) },
      ],
      out,
    );
    expect(entries).toBe(9);
    expect(createHash("sha256").update(await readFile(path.join(out, "deps/big.bin"))).digest("hex")).toBe(createHash("sha256").update(big).digest("hex"));
    expect(await readFile(path.join(out, "deps/empty"), "utf8")).toBe("");
    expect(await readFile(path.join(out, "deps/.hidden"), "utf8")).toBe("dot\n");
    expect(await readFile(path.join(out, long), "utf8")).toBe("long name\n");
    expect((await lstat(path.join(out, "deps/.bin/tool"))).isSymbolicLink()).toBe(true);
    expect(await readlink(path.join(out, "deps/.bin/tool"))).toBe("../big.bin");
    expect((await stat(path.join(out, "deps/.bin/tool"))).size).toBe(big.length);
  });

  it("refuses entries that would land outside the extraction dir, through '..' or a link of the archive", async () => {
    const src = path.join(work.dir, "src");
    await mkdir(src);
    await symlink("/etc", path.join(src, "escape"));
    await writeFile(path.join(src, "file"), "x");
    // A hostile archive: a link to /etc, then a file "under" it.
    const hostile = async function* () {
      for await (const chunk of writeTar([{ name: "escape", path: path.join(src, "escape") }])) {
        if (chunk.length === 1024 && chunk.every((b) => b === 0)) break; // drop the end marker
        yield chunk;
      }
      yield* writeTar([{ name: "escape/owned", path: path.join(src, "file") }]);
    };
    const out = path.join(work.dir, "out");
    await mkdir(out);
    await expect(extractTar(hostile(), out)).rejects.toThrow(/under a symbolic link/);
    await expect(extractTar(writeTar([{ name: "../up", path: path.join(src, "file") }]), path.join(out, "x"))).rejects.toBeInstanceOf(TarError);
    expect(await readdir(out)).toEqual(["escape"]);
  });

  it("a truncated archive is an error, not a short file", async () => {
    const src = path.join(work.dir, "f");
    await writeFile(src, Buffer.alloc(100_000, 1));
    const chunks: Buffer[] = [];
    for await (const c of writeTar([{ name: "f", path: src }])) chunks.push(c);
    const cut = Buffer.concat(chunks).subarray(0, 50_000);
    const out = path.join(work.dir, "out");
    await mkdir(out);
    await expect(extractTar(Readable.from([cut]), out)).rejects.toThrow(/ends in the middle/);
  });
});

describe("hashFiles", () => {
  it("hashes the matching files' contents in name order; nothing matched is empty", async () => {
    await mkdir(path.join(work.dir, "a"), { recursive: true });
    await writeFile(path.join(work.dir, "package-lock.json"), "lock-1");
    await writeFile(path.join(work.dir, "a/x.lock"), "x");
    await writeFile(path.join(work.dir, "a/y.lock"), "y");
    const expected = createHash("sha256").update("x").update("y").digest("hex");
    expect(await hashFiles(["a/*.lock"], work.dir)).toBe(expected);
    expect(await hashFiles(["nothing/*"], work.dir)).toBe("");
    const key = await renderHashFiles("deps-${{ hashFiles('package-lock.json') }}-${{ hashFiles(\"a/*.lock\") }}", (globs) => hashFiles(globs, work.dir));
    expect(key).toBe(`deps-${createHash("sha256").update("lock-1").digest("hex")}-${expected}`);
    await writeFile(path.join(work.dir, "package-lock.json"), "lock-2");
    expect(await hashFiles(["package-lock.json"], work.dir)).not.toBe(createHash("sha256").update("lock-1").digest("hex"));
  });
});
