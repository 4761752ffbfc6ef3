/**
 * A stand-in for the control plane's cache routes (worker/routes/agent-caches.ts and
 * agent-cache-uploads.ts) over real HTTP, holding entries in memory: enough for the agent's
 * real JobApi to save (one PUT or in parts) and restore. It checks what the worker checks about
 * parts (each at most the part size, equal but the last, the whole's size and SHA-256) and
 * records what happened, so a test can see parts, aborts and entries.
 */
import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { CACHE_PART_BYTES, MAX_CACHE_ENTRY_BYTES } from "../../../domain/caches.ts";

export interface CacheServer {
  url: string;
  entries: Map<string, { id: string; bytes: Buffer; sha256: string; createdAt: number }>;
  /** Parts received per upload, and the uploads aborted. */
  parts: Map<string, Map<number, Buffer>>;
  aborted: string[];
  /** Answers a part with this status (and an error body) instead of storing it. */
  refusePart?: { partNumber: number; status: number };
  /** Cuts a download after this many bytes (the socket is destroyed). */
  cutDownloadAt?: number;
  close: () => Promise<void>;
}

const send = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};
const refuse = (res: http.ServerResponse, status: number, code: string, message: string) => send(res, status, { error: { code, message } });

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startCacheServer(): Promise<CacheServer> {
  let uploads = 0;
  const state: Omit<CacheServer, "url" | "close"> = { entries: new Map(), parts: new Map(), aborted: [] };
  const byId = (id: string) => [...state.entries.values()].find((e) => e.id === id);
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const rest = url.pathname.replace(/^\/api\/agent\/v1\/jobs\/[^/]+/, "");
    // A part the agent stops sending (another one failed) ends here: nothing to answer.
    const body = await readBody(req).catch(() => null);
    if (body === null) return;
    if (req.method === "GET" && rest === "/cache") {
      const key = url.searchParams.get("key")!;
      const restore = (url.searchParams.get("restore") ?? "").split(",").filter(Boolean);
      let hit: "exact" | "partial" | "miss" = state.entries.has(key) ? "exact" : "miss";
      let found = state.entries.get(key);
      for (const prefix of restore) {
        if (found) break;
        const newest = [...state.entries.entries()].filter(([k]) => k.startsWith(prefix)).sort((a, b) => b[1].createdAt - a[1].createdAt)[0];
        if (newest) [hit, found] = ["partial", newest[1]];
      }
      if (!found) return send(res, 200, { hit: "miss" });
      const foundKey = [...state.entries.entries()].find(([, e]) => e === found)![0];
      return send(res, 200, { hit, entry: found.id, key: foundKey, size: found.bytes.length, sha256: found.sha256 });
    }
    const download = /^\/cache\/([^/]+)$/.exec(rest);
    if (req.method === "GET" && download) {
      const entry = byId(download[1]!);
      if (!entry) return refuse(res, 404, "cache_not_found", "no such entry");
      res.writeHead(200, { "content-type": "application/gzip", "content-length": String(entry.bytes.length) });
      if (state.cutDownloadAt === undefined) return res.end(entry.bytes);
      res.write(entry.bytes.subarray(0, state.cutDownloadAt), () => res.destroy());
      return;
    }
    const store = (key: string, bytes: Buffer, sha256: string) => {
      if (createHash("sha256").update(bytes).digest("hex") !== sha256) return refuse(res, 400, "sha256_mismatch", "sha256 differs");
      const created = !state.entries.has(key);
      if (created) state.entries.set(key, { id: `e${state.entries.size + 1}`, bytes, sha256, createdAt: Date.now() + state.entries.size });
      return send(res, created ? 201 : 200, { key, size: bytes.length, created });
    };
    if (req.method === "PUT" && rest === "/cache") return store(url.searchParams.get("key")!, body, url.searchParams.get("sha256")!);
    if (req.method === "POST" && rest === "/cache-uploads") {
      const uploadId = `${JSON.parse(body.toString()).key}|${++uploads}`;
      state.parts.set(uploadId, new Map());
      return send(res, 201, { uploadId, partSize: CACHE_PART_BYTES, maxBytes: MAX_CACHE_ENTRY_BYTES });
    }
    const part = /^\/cache-uploads\/([^/]+)\/parts\/(\d+)$/.exec(rest);
    if (req.method === "PUT" && part) {
      const parts = state.parts.get(decodeURIComponent(part[1]!));
      const n = Number(part[2]);
      if (!parts) return refuse(res, 404, "upload_not_found", "unknown upload");
      if (state.refusePart?.partNumber === n) return refuse(res, state.refusePart.status, "refused", `part ${n} refused by the test`);
      if (body.length < 1 || body.length > CACHE_PART_BYTES) return refuse(res, 400, "part_size", "bad part size");
      parts.set(n, body);
      return send(res, 200, { partNumber: n, etag: `etag-${n}` });
    }
    const complete = /^\/cache-uploads\/([^/]+)\/complete$/.exec(rest);
    if (req.method === "POST" && complete) {
      const uploadId = decodeURIComponent(complete[1]!);
      const parts = state.parts.get(uploadId);
      if (!parts) return refuse(res, 400, "invalid_parts", "unknown upload");
      const { parts: listed, size, sha256 } = JSON.parse(body.toString()) as { parts: { partNumber: number }[]; size: number; sha256: string };
      const ordered = listed.map((p) => parts.get(p.partNumber)!);
      if (ordered.slice(0, -1).some((p) => p.length !== CACHE_PART_BYTES)) return refuse(res, 400, "invalid_parts", "unequal parts");
      const whole = Buffer.concat(ordered);
      if (whole.length !== size) return refuse(res, 400, "size_mismatch", "size differs");
      return store(uploadId.split("|")[0]!, whole, sha256);
    }
    const abort = /^\/cache-uploads\/([^/]+)$/.exec(rest);
    if (req.method === "DELETE" && abort) {
      const uploadId = decodeURIComponent(abort[1]!);
      state.aborted.push(uploadId);
      return send(res, 200, { aborted: state.parts.delete(uploadId) });
    }
    refuse(res, 404, "not_found", `${req.method} ${rest}`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
