/**
 * Errors are always `{error: {code, message, details?}}` with their own clear 4xx: malformed
 * JSON, a wrong content type, a body over its limit, an unknown route or id. Never a 500.
 */
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { ADMIN, api, projectWithPipeline } from "./api-client.ts";

const UNKNOWN = "0190a0a0-0000-7000-8000-000000000000";
let runId: string;

beforeAll(async () => {
  await projectWithPipeline("errs");
  runId = (await api("POST", "/api/v1/projects/errs/pipelines/build/runs", { body: {} })).json.id;
});

/** Every JSON-body route of the user API. */
const jsonRoutes = (): [string, string][] => [
  ["POST", "/api/v1/projects"],
  ["POST", "/api/v1/tokens"],
  ["POST", "/api/v1/agent-tokens"],
  ["POST", "/api/v1/projects/errs/pipelines/build/runs"],
  ["POST", `/api/v1/runs/${runId}/rerun`],
  ["POST", "/api/v1/queue/reorder"],
  ["POST", "/api/v1/queue/cancel"],
];

function expectError(res: { status: number; json: any; headers: Headers }, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  expect(Object.keys(res.json)).toEqual(["error"]);
  expect(res.json.error.code).toBe(code);
  expect(typeof res.json.error.message).toBe("string");
  expect(res.json.error.message.length).toBeGreaterThan(10);
  for (const key of Object.keys(res.json.error)) expect(["code", "message", "details"]).toContain(key);
}

describe("request bodies", () => {
  it("malformed JSON: 400 malformed_json on every JSON route", async () => {
    for (const [method, path] of jsonRoutes()) {
      for (const raw of ["{", '{"slug": }', "not json", "{'single': 1}"]) {
        const res = await api(method, path, { raw, headers: { "content-type": "application/json" } });
        expectError(res, 400, "malformed_json");
      }
    }
  });

  it("an empty body declared as JSON: 400 malformed_json where a body is required", async () => {
    const res = await api("POST", "/api/v1/projects", { raw: "", headers: { "content-type": "application/json" } });
    expectError(res, 400, "malformed_json");
  });

  it("a JSON route given another content type: 415 naming the type and what to send", async () => {
    for (const [method, path] of jsonRoutes()) {
      const res = await api(method, path, { raw: "slug=x", headers: { "content-type": "application/x-www-form-urlencoded" } });
      expectError(res, 415, "unsupported_media_type");
      expect(res.json.error.message).toContain("application/x-www-form-urlencoded");
      expect(res.json.error.message).toContain("application/json");
    }
    const text = await api("POST", "/api/v1/projects", { raw: '{"slug":"typed"}', headers: { "content-type": "text/plain" } });
    expectError(text, 415, "unsupported_media_type");
    expect((await api("GET", "/api/v1/projects/typed")).status).toBe(404);
  });

  it("a body over 1 MiB: 413, with or without a Content-Length", async () => {
    const big = JSON.stringify({ slug: "big", name: "x".repeat(1024 * 1024) });
    expectError(await api("POST", "/api/v1/projects", { raw: big, headers: { "content-type": "application/json" } }), 413, "body_too_large");
    const chunks = new TextEncoder().encode(big);
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < chunks.length; i += 64 * 1024) controller.enqueue(chunks.slice(i, i + 64 * 1024));
        controller.close();
      },
    });
    const res = await exports.default.fetch("http://yardmaster.test/api/v1/projects", {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: stream,
      // @ts-expect-error: workerd's fetch takes a streamed body without `duplex`
      duplex: "half",
    });
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).error.code).toBe("body_too_large");
    expect((await api("GET", "/api/v1/projects/big")).status).toBe(404);
  });

  it("never a 500, whatever JSON value is sent", async () => {
    const deep = "[".repeat(200_000) + "]".repeat(200_000);
    const values = ["null", "[]", '"text"', "42", "true", "{}", '{"x":1}', '{"slug":["a"]}', '{"jobs":"x","job":{}}', '{"__proto__":{"admin":true}}', deep];
    for (const [method, path] of jsonRoutes()) {
      for (const raw of values) {
        const res = await api(method, path, { raw, headers: { "content-type": "application/json" } });
        expect(res.status, `${method} ${path} ${raw.slice(0, 30)}: ${res.text.slice(0, 200)}`).toBeLessThan(500);
        if (res.status >= 400) expect(res.json.error.code).toMatch(/^[a-z_]+$/);
      }
    }
  });
});

describe("unknown routes and ids", () => {
  it("an unknown route: 404 not_found naming it (after authentication)", async () => {
    const res = await api("GET", "/api/v1/nothing-here");
    expectError(res, 404, "not_found");
    expect(res.json.error.message).toBe("no route for GET /api/v1/nothing-here");
    expectError(await api("DELETE", "/api/v1/projects"), 404, "not_found");
    expectError(await api("GET", "/api/v1/nothing-here", { token: null }), 401, "unauthorized");
  });

  it.each([
    ["GET", `/api/v1/runs/${UNKNOWN}`, "run_not_found"],
    ["POST", `/api/v1/runs/${UNKNOWN}/cancel`, "run_not_found"],
    ["GET", `/api/v1/runs/${UNKNOWN}/jobs/test/log`, "run_not_found"],
    ["GET", "/api/v1/projects/ghost", "project_not_found"],
    ["GET", "/api/v1/projects/ghost/pipelines", "project_not_found"],
    ["GET", "/api/v1/projects/errs/pipelines/ghost", "pipeline_not_found"],
    ["DELETE", `/api/v1/tokens/${UNKNOWN}`, "token_not_found"],
    ["DELETE", `/api/v1/agent-tokens/${UNKNOWN}`, "token_not_found"],
    ["DELETE", `/api/v1/agents/${UNKNOWN}`, "agent_not_found"],
  ])("%s %s: 404 %s", async (method, path, code) => {
    expectError(await api(method, path), 404, code);
  });

  it("an unknown job of a known run: 404 job_not_found", async () => {
    expectError(await api("GET", `/api/v1/runs/${runId}/jobs/ghost/log`), 404, "job_not_found");
  });

  it.each([
    ["GET", "/api/v1/runs/not-a-uuid", "run"],
    ["POST", "/api/v1/runs/12345/cancel", "run"],
    ["DELETE", "/api/v1/tokens/x", "id"],
    ["GET", "/api/v1/projects/Bad_Slug", "project"],
  ])("%s %s: 400 invalid_request naming %s", async (method, path, field) => {
    const res = await api(method, path);
    expectError(res, 400, "invalid_request");
    expect(res.json.error.details.issues[0].path).toBe(field);
    expect(res.json.error.message).toContain(field);
  });
});
