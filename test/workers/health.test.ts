import { env, exports } from "cloudflare:workers";
import { expect, it } from "vitest";
it("health", async () => {
  const res = await exports.default.fetch("http://x/api/health");
  expect(await res.json()).toEqual({ ok: true });
  const stub = env.RUNS.get(env.RUNS.idFromName("a"));
  expect(await stub.ping()).toBe("pong");
});
