/**
 * Job caches through the agent protocol (issue 18): exact hit, restore-key prefix, miss, LRU
 * eviction past the project's limit, and queues that never share an entry. Real D1 and R2.
 */
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { claim, registerAgent, sha256 } from "./agent-client.ts";
import { api } from "./api-client.ts";
import { CACHE_PART_BYTES, MAX_CACHE_PARTS } from "../../domain/caches.ts";
import { cacheProjectBytes, evictCaches } from "../../worker/services/caches.ts";

const pipeline = (queue: string, label: string) => `name: build\nqueue: ${queue}\njobs:\n  work:\n    runs-on: [${label}]\n    steps:\n      - run: echo hi\n`;

/** A running job in `project`, on `queue`: its job token and attempt id. */
async function runningJob(project: string, queue: string, label: string) {
  await api("POST", "/api/v1/projects", { body: { slug: project } });
  if (queue !== "default") await api("POST", "/api/v1/queues", { body: { name: queue } });
  expect((await api("PUT", `/api/v1/projects/${project}/pipelines/build`, { raw: pipeline(queue, label), headers: { "content-type": "text/plain" } })).status).toBeLessThan(300);
  const registration = await api("POST", "/api/v1/agent-tokens", { body: { name: `${label}-reg`, queue } });
  const agent = await registerAgent(`${label}-agent`, [label], registration.json.token);
  expect((await api("POST", `/api/v1/projects/${project}/pipelines/build/runs`, { body: {} })).status).toBe(201);
  const claimed = await claim(agent.token, 5);
  expect(claimed.status, claimed.text).toBe(200);
  const { token, job } = claimed.json as { token: string; job: { attemptId: string } };
  const base = `/api/agent/v1/jobs/${job.attemptId}/cache`;
  const uploads = `/api/agent/v1/jobs/${job.attemptId}/cache-uploads`;
  return {
    token,
    base,
    start: (key: string, format?: string) => api("POST", uploads, { token, body: { key, format } }),
    part: (uploadId: string, n: number, body: Uint8Array) =>
      api("PUT", `${uploads}/${uploadId}/parts/${n}`, { token, raw: body, headers: { "content-type": "application/octet-stream", "content-length": String(body.byteLength) } }),
    complete: (uploadId: string, body: unknown) => api("POST", `${uploads}/${uploadId}/complete`, { token, body }),
    abort: (uploadId: string) => api("DELETE", `${uploads}/${uploadId}`, { token }),
    lookup: (key: string, restore?: string[]) =>
      api("GET", `${base}?key=${encodeURIComponent(key)}${restore ? `&restore=${encodeURIComponent(restore.join(","))}` : ""}`, { token }),
    download: (entry: string) => api("GET", `${base}/${entry}`, { token }),
    save: async (key: string, bytes: Uint8Array) =>
      api("PUT", `${base}?key=${encodeURIComponent(key)}&size=${bytes.byteLength}&sha256=${await sha256(bytes)}`, {
        token,
        raw: bytes,
        headers: { "content-type": "application/gzip", "content-length": String(bytes.byteLength) },
      }),
  };
}

/** A GET whose body is read as bytes (the api helper reads text). */
const exportsFetch = (path: string, token: string) => exports.default.fetch(`http://yardmaster.test${path}`, { headers: { authorization: `Bearer ${token}` } });

const bytes = (text: string) => new TextEncoder().encode(text);

describe("job caches", () => {
  it("an exact hit, a partial hit through a restore key (the newest), and a miss", async () => {
    const job = await runningJob("cache-hits", "default", "cache-hits");
    expect((await job.lookup("deps-abc")).json).toEqual({ hit: "miss" });
    expect((await job.save("deps-abc", bytes("first"))).status).toBe(201);
    expect((await job.save("deps-abd", bytes("second"))).status).toBe(201);
    // The same key again: the first one stays.
    const again = await job.save("deps-abc", bytes("other"));
    expect(again.status).toBe(200);
    expect(again.json.created).toBe(false);

    const exact = await job.lookup("deps-abc", ["deps-"]);
    expect(exact.json).toMatchObject({ hit: "exact", key: "deps-abc", size: 5 });
    expect((await job.download(exact.json.entry)).text).toBe("first");

    const partial = await job.lookup("deps-zzz", ["nope-", "deps-"]);
    expect(partial.json).toMatchObject({ hit: "partial", key: "deps-abd" });
    expect((await job.download(partial.json.entry)).text).toBe("second");
    // A prefix is case-sensitive (not SQL LIKE).
    expect((await job.lookup("x", ["DEPS-"])).json.hit).toBe("miss");
  });

  it("never shares an entry across queues, even in the same project", async () => {
    const onDefault = await runningJob("cache-queues", "default", "cache-q-default");
    const onGpu = await runningJob("cache-queues", "cache-gpu", "cache-q-gpu");
    expect((await onDefault.save("shared-key", bytes("from default"))).status).toBe(201);
    expect((await onGpu.lookup("shared-key", ["shared"])).json).toEqual({ hit: "miss" });
    const entry = (await onDefault.lookup("shared-key")).json.entry;
    const stolen = await onGpu.download(entry);
    expect(stolen.status).toBe(404);
    expect((await onGpu.save("shared-key", bytes("from gpu"))).status).toBe(201);
    expect((await onGpu.download((await onGpu.lookup("shared-key")).json.entry)).text).toBe("from gpu");
    expect((await onDefault.download(entry)).text).toBe("from default");
  });

  it("evicts the least recently used entries past the project's limit (a restore counts as use), R2 objects too", async () => {
    const job = await runningJob("cache-lru", "default", "cache-lru");
    for (const key of ["a", "b", "c"]) expect((await job.save(key, bytes(key.repeat(100)))).status).toBe(201);
    expect((await job.lookup("a")).json.hit).toBe("exact"); // a is now the most recently used
    const project = await env.DB.prepare("SELECT id FROM projects WHERE slug = 'cache-lru'").first<{ id: string }>();
    expect(await evictCaches(env, project!.id, 200)).toBe(1);
    expect((await job.lookup("b")).json.hit).toBe("miss");
    expect((await job.lookup("a")).json.hit).toBe("exact");
    expect((await job.lookup("c")).json.hit).toBe("exact");
    const listed = await env.ARTIFACTS.list({ prefix: `caches/${project!.id}/` });
    expect(listed.objects).toHaveLength(2);
    expect(cacheProjectBytes(env)).toBe(10 * 1024 ** 3);
  });

  it("refuses a bad key, too many restore keys, an entry over the size limit, a wrong checksum", async () => {
    const job = await runningJob("cache-limits", "default", "cache-limits");
    const badKey = await job.lookup("a,b");
    expect(badKey.status).toBe(400);
    expect(badKey.json.error.code).toBe("invalid_cache_key");
    const many = await job.lookup("k", Array.from({ length: 11 }, (_, i) => `r${i}`));
    expect(many.json.error.message).toMatch(/at most 10 restore keys/);
    const big = await api("PUT", `${job.base}?key=k&size=${200 * 1024 ** 2}&sha256=${"0".repeat(64)}`, { token: job.token, raw: bytes("x") });
    expect(big.status).toBe(413);
    expect(big.json.error.code).toBe("use_multipart");
    expect(big.json.error.message).toMatch(/over 99614720 bytes go through cache-uploads/);
    const huge = await api("PUT", `${job.base}?key=k&size=${3 * 1024 ** 3}&sha256=${"0".repeat(64)}`, { token: job.token, raw: bytes("x") });
    expect(huge.status).toBe(413);
    expect(huge.json.error.message).toMatch(/at most 2147483648 bytes/);
    const body = bytes("payload");
    const wrong = await api("PUT", `${job.base}?key=k&size=${body.byteLength}&sha256=${"0".repeat(64)}`, {
      token: job.token,
      raw: body,
      headers: { "content-type": "application/gzip", "content-length": String(body.byteLength) },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.json.error.code).toBe("sha256_mismatch");
    expect((await job.lookup("k")).json.hit).toBe("miss");
    // A single PUT carries up to 95 MiB, not only what the agent API's JSON limit (4 MiB) allows.
    const middling = new Uint8Array(6 * 1024 ** 2).fill(7);
    expect((await job.save("middling", middling)).status).toBe(201);
  });

  it("saves an entry of more than one part (multipart), then restores it whole", async () => {
    const job = await runningJob("cache-multipart", "default", "cache-multipart");
    const whole = new Uint8Array(CACHE_PART_BYTES + 1000);
    for (let i = 0; i < whole.length; i += 65536) crypto.getRandomValues(whole.subarray(i, Math.min(i + 65536, whole.length)));
    const started = await job.start("big-deps", "zstd");
    expect(started.status, started.text).toBe(201);
    expect(started.json).toMatchObject({ partSize: CACHE_PART_BYTES, maxBytes: 2 * 1024 ** 3 });
    const { uploadId } = started.json;
    // Parts may arrive in any order (the agent sends two at once).
    const second = await job.part(uploadId, 2, whole.subarray(CACHE_PART_BYTES));
    const first = await job.part(uploadId, 1, whole.subarray(0, CACHE_PART_BYTES));
    expect([first.status, second.status]).toEqual([200, 200]);
    expect((await job.lookup("big-deps")).json.hit).toBe("miss"); // no entry before it is complete
    const done = await job.complete(uploadId, { parts: [second.json, first.json], size: whole.byteLength, sha256: await sha256(whole) });
    expect(done.status, done.text).toBe(201);
    expect(done.json).toEqual({ key: "big-deps", size: whole.byteLength, created: true });
    // A retried completion (its answer lost) answers the same.
    expect((await job.complete(uploadId, { parts: [first.json, second.json], size: whole.byteLength, sha256: await sha256(whole) })).status).toBe(201);
    const found = await job.lookup("big-deps");
    expect(found.json).toMatchObject({ hit: "exact", size: whole.byteLength, sha256: await sha256(whole) });
    const res = await exportsFetch(`${job.base}/${found.json.entry}`, job.token);
    // Stored as what it is: the R2 key and the download's content type say zstd.
    expect(res.headers.get("content-type")).toBe("application/zstd");
    const project = await env.DB.prepare("SELECT id FROM projects WHERE slug = 'cache-multipart'").first<{ id: string }>();
    expect((await env.ARTIFACTS.list({ prefix: `caches/${project!.id}/` })).objects.map((o) => o.key.replace(/^.*\./, ""))).toEqual(["zst"]);
    expect(await sha256(new Uint8Array(await res.arrayBuffer()))).toBe(await sha256(whole));
  });

  it("refuses multipart saves past the limits, keeps nothing of a bad or aborted one", async () => {
    const job = await runningJob("cache-multipart-limits", "default", "cache-mp-limits");
    const project = await env.DB.prepare("SELECT id FROM projects WHERE slug = 'cache-multipart-limits'").first<{ id: string }>();
    const stored = async () => (await env.ARTIFACTS.list({ prefix: `caches/${project!.id}/` })).objects.length;
    const { uploadId } = (await job.start("k")).json;
    const pastLimit = await job.part(uploadId, MAX_CACHE_PARTS + 1, bytes("x"));
    expect(pastLimit.status).toBe(413);
    expect(pastLimit.json.error).toMatchObject({ code: "cache_too_large" });
    expect(pastLimit.json.error.message).toMatch(/at most 2147483648 bytes/);
    const oversized = await job.part(uploadId, 1, new Uint8Array(CACHE_PART_BYTES + 1));
    expect(oversized.status).toBe(400);
    expect(oversized.json.error.message).toMatch(new RegExp(`a part is 1 to ${CACHE_PART_BYTES} bytes`));
    const tooBig = await job.complete(uploadId, { parts: [{ partNumber: 1, etag: "x" }], size: 3 * 1024 ** 3, sha256: "0".repeat(64) });
    expect(tooBig.status).toBe(413);
    expect(tooBig.json.error.message).toMatch(/at most 2147483648 bytes/);

    // Parts whose bytes do not match the declared SHA-256: 400, no entry, no object.
    const wrong = (await job.start("k")).json.uploadId;
    const a = (await job.part(wrong, 1, new Uint8Array(CACHE_PART_BYTES))).json;
    const b = (await job.part(wrong, 2, bytes("tail"))).json;
    const mismatch = await job.complete(wrong, { parts: [a, b], size: CACHE_PART_BYTES + 4, sha256: "0".repeat(64) });
    expect(mismatch.status).toBe(400);
    expect(mismatch.json.error.code).toBe("sha256_mismatch");
    // Unequal parts (a short one before the last): R2 refuses to put them together.
    const unequal = (await job.start("k")).json.uploadId;
    const c1 = (await job.part(unequal, 1, bytes("short"))).json;
    const c2 = (await job.part(unequal, 2, bytes("tail"))).json;
    const refused = await job.complete(unequal, { parts: [c1, c2], size: 9, sha256: "0".repeat(64) });
    expect(refused.status).toBe(400);
    expect(refused.json.error.code).toBe("invalid_parts");
    // Aborted half way: the upload is gone, nothing to complete.
    const dropped = (await job.start("k")).json.uploadId;
    const d1 = (await job.part(dropped, 1, new Uint8Array(CACHE_PART_BYTES))).json;
    expect((await job.abort(dropped)).json).toEqual({ aborted: true });
    expect((await job.complete(dropped, { parts: [d1], size: CACHE_PART_BYTES, sha256: "0".repeat(64) })).status).toBe(400);
    expect((await job.lookup("k")).json.hit).toBe("miss");
    expect(await stored()).toBe(0);
    // A ticket that is not one: 404.
    expect((await job.part("not-a-ticket", 1, bytes("x"))).json.error.code).toBe("upload_not_found");
  });
});
