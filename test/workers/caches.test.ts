/**
 * Job caches through the agent protocol (issue 18): exact hit, restore-key prefix, miss, LRU
 * eviction past the project's limit, and queues that never share an entry. Real D1 and R2.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { claim, registerAgent, sha256 } from "./agent-client.ts";
import { api } from "./api-client.ts";
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
  return {
    token,
    base,
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
    expect(big.json.error.message).toMatch(/at most 99614720 bytes/);
    const body = bytes("payload");
    const wrong = await api("PUT", `${job.base}?key=k&size=${body.byteLength}&sha256=${"0".repeat(64)}`, {
      token: job.token,
      raw: body,
      headers: { "content-type": "application/gzip", "content-length": String(body.byteLength) },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.json.error.code).toBe("sha256_mismatch");
    expect((await job.lookup("k")).json.hit).toBe("miss");
  });
});
