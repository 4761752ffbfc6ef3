/**
 * A small tar (POSIX ustar + pax long names) writer and reader for job caches: regular files,
 * directories and symbolic links, nothing else (no devices, hard links, owners or xattrs).
 * Written here rather than taken from npm: caches need ~200 lines of it, and the agent's
 * bundle stays without a dependency whose extraction rules we would have to audit anyway.
 *
 * Both sides stream: the writer yields headers and file chunks (never a whole file), the reader
 * consumes any async iterable of chunks and writes each file as its bytes arrive.
 *
 * The reader extracts into a directory of its own (the caller's temp dir), and refuses what
 * would land outside it: absolute names, `..` segments, and any entry under a symbolic link
 * the archive itself created (`a -> /etc` then `a/passwd`).
 */
import { createReadStream } from "node:fs";
import { lstat, mkdir, open, readdir, readlink, symlink } from "node:fs/promises";
import path from "node:path";

const BLOCK = 512;

/** One thing to archive: `name` is `/`-separated and relative; `path` where it is on disk. */
export interface TarSource {
  name: string;
  path: string;
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length = String(length).length + Buffer.byteLength(body);
  return Buffer.from(`${length}${body}`, "utf8");
}

function header(fields: { name: string; mode: number; size: number; mtime: number; type: string; linkname?: string }): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(fields.name, 0, 100, "utf8");
  h.write(octal(fields.mode & 0o7777, 8), 100, "ascii");
  h.write(octal(0, 8), 108, "ascii");
  h.write(octal(0, 8), 116, "ascii");
  h.write(octal(fields.size, 12), 124, "ascii");
  h.write(octal(Math.floor(fields.mtime / 1000), 12), 136, "ascii");
  h.write("        ", 148, "ascii");
  h.write(fields.type, 156, "ascii");
  if (fields.linkname) h.write(fields.linkname, 157, 100, "utf8");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(octal(sum, 7) + " ", 148, "ascii");
  return h;
}

/** A header, preceded by a pax header when the name or the link target does not fit in ustar's 100 bytes. */
function headers(fields: { name: string; mode: number; size: number; mtime: number; type: string; linkname?: string }): Buffer[] {
  const pax: Buffer[] = [];
  if (Buffer.byteLength(fields.name) > 100) pax.push(paxRecord("path", fields.name));
  if (fields.linkname && Buffer.byteLength(fields.linkname) > 100) pax.push(paxRecord("linkpath", fields.linkname));
  const out: Buffer[] = [];
  if (pax.length > 0) {
    const body = Buffer.concat(pax);
    out.push(header({ name: "PaxHeader", mode: 0o644, size: body.length, mtime: fields.mtime, type: "x" }), body, padding(body.length));
  }
  out.push(header(fields));
  return out;
}

function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/**
 * The tar stream of `sources` (each a file, a directory — walked, links not followed — or a
 * link), each name once. What vanished since it was listed is left out.
 */
export async function* writeTar(sources: readonly TarSource[]): AsyncGenerator<Buffer> {
  const seen = new Set<string>();
  const pending = [...sources].reverse();
  while (pending.length > 0) {
    const { name, path: file } = pending.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    const st = await lstat(file).catch(() => undefined);
    if (!st) continue;
    if (st.isSymbolicLink()) {
      yield* headers({ name, mode: 0o777, size: 0, mtime: st.mtimeMs, type: "2", linkname: await readlink(file) });
    } else if (st.isDirectory()) {
      yield* headers({ name: `${name}/`, mode: st.mode, size: 0, mtime: st.mtimeMs, type: "5" });
      const entries = (await readdir(file).catch(() => [] as string[])).sort().reverse();
      for (const entry of entries) pending.push({ name: `${name}/${entry}`, path: path.join(file, entry) });
    } else if (st.isFile()) {
      // The size in the header is the one read: a file that grows meanwhile is cut there, one that shrinks is padded.
      yield* headers({ name, mode: st.mode, size: st.size, mtime: st.mtimeMs, type: "0" });
      let sent = 0;
      const chunks = st.size > 0 ? createReadStream(file, { end: st.size - 1, highWaterMark: 256 * 1024 }) : [];
      for await (const chunk of chunks) {
        const c = chunk as Buffer;
        const part = c.subarray(0, Math.max(0, st.size - sent));
        sent += part.length;
        yield part;
      }
      if (sent < st.size) yield Buffer.alloc(st.size - sent);
      yield padding(st.size);
    }
  }
  yield Buffer.alloc(BLOCK * 2);
}

/** Thrown for an archive that is not a tar this reader accepts. */
export class TarError extends Error {}

/** A name from an archive made safe to join under the extraction dir, or an error saying why not. */
function safeName(name: string): string {
  const trimmed = name.replace(/\/+$/, "");
  if (trimmed === "" || trimmed.startsWith("/") || /^[A-Za-z]:/.test(trimmed) || trimmed.includes("\0")) {
    throw new TarError(`refused entry "${name}": not a relative path`);
  }
  const parts = trimmed.split("/");
  if (parts.some((p) => p === ".." || p === "" || p === ".")) throw new TarError(`refused entry "${name}": '..', '.' or empty segments`);
  return parts.join("/");
}

function field(h: Buffer, start: number, length: number): string {
  const raw = h.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? length : end).toString("utf8");
}

function parseOctal(h: Buffer, start: number, length: number): number {
  const text = field(h, start, length).trim();
  if (!/^[0-7]*$/.test(text)) throw new TarError("corrupt tar header (a number is not octal)");
  return text === "" ? 0 : parseInt(text, 8);
}

/** Reads exactly what is asked from a chunked source. */
class ChunkReader {
  private buffered: Buffer[] = [];
  private size = 0;
  private readonly it: AsyncIterator<Buffer>;
  private done = false;
  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }
  /** Up to `max` bytes (fewer only at the end), at least 1 unless the source is over. */
  async some(max: number): Promise<Buffer> {
    while (this.size === 0 && !this.done) {
      const next = await this.it.next();
      if (next.done) this.done = true;
      else if (next.value.length > 0) {
        this.buffered.push(next.value);
        this.size += next.value.length;
      }
    }
    if (this.size === 0) return Buffer.alloc(0);
    const first = this.buffered[0]!;
    const take = first.subarray(0, max);
    if (take.length === first.length) this.buffered.shift();
    else this.buffered[0] = first.subarray(take.length);
    this.size -= take.length;
    return take;
  }
  async exactly(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const part = await this.some(n - got);
      if (part.length === 0) throw new TarError("the archive ends in the middle of an entry");
      parts.push(part);
      got += part.length;
    }
    return Buffer.concat(parts);
  }
}

/** Extracts a tar stream into `dir` (which should be new and empty); answers the entries written. */
export async function extractTar(source: AsyncIterable<Buffer>, dir: string): Promise<number> {
  const reader = new ChunkReader(source);
  const links = new Set<string>();
  let pax: Record<string, string> = {};
  let entries = 0;
  for (;;) {
    const h = await reader.exactly(BLOCK);
    if (h.every((b) => b === 0)) return entries;
    const stored = parseOctal(h, 148, 8);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    if (sum !== stored) throw new TarError("corrupt tar header (checksum)");
    const type = String.fromCharCode(h[156]!) || "0";
    const size = parseOctal(h, 124, 12);
    const prefix = field(h, 345, 155);
    const rawName = pax.path ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
    const linkname = pax.linkpath ?? field(h, 157, 100);
    pax = {};
    if (type === "x") {
      const body = (await reader.exactly(size)).toString("utf8");
      await reader.exactly(padding(size).length);
      for (const line of body.split("\n")) {
        const m = /^\d+ ([^=]+)=(.*)$/.exec(line);
        if (m) pax[m[1]!] = m[2]!;
      }
      continue;
    }
    if (type === "g") {
      await reader.exactly(size + padding(size).length);
      continue;
    }
    const name = safeName(rawName);
    const parts = name.split("/");
    for (let i = 1; i < parts.length; i++) {
      if (links.has(parts.slice(0, i).join("/"))) throw new TarError(`refused entry "${name}": it lies under a symbolic link of the archive`);
    }
    const target = path.join(dir, ...parts);
    const mode = parseOctal(h, 100, 8);
    if (type === "5") {
      await mkdir(target, { recursive: true });
    } else if (type === "2") {
      await mkdir(path.dirname(target), { recursive: true });
      await symlink(linkname, target);
      links.add(name);
    } else if (type === "0" || type === "\0" || type === "7") {
      await mkdir(path.dirname(target), { recursive: true });
      // `wx`: never through something already there (a link of the archive is refused above).
      const handle = await open(target, "wx", mode & 0o777 || 0o644);
      try {
        let left = size;
        while (left > 0) {
          const chunk = await reader.some(left);
          if (chunk.length === 0) throw new TarError("the archive ends in the middle of a file");
          await handle.write(chunk);
          left -= chunk.length;
        }
      } finally {
        await handle.close();
      }
      await reader.exactly(padding(size).length);
    } else {
      throw new TarError(`refused entry "${name}": unsupported type '${type}' (caches hold files, directories and links)`);
    }
    entries += 1;
  }
}
