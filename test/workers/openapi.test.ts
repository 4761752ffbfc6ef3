/**
 * GET /api/openapi.json describes every route the worker serves (taken from the app's own
 * route table, so a new undocumented route fails here), is OpenAPI 3.1 in shape, and carries
 * the contract of DESIGN.md §5.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../worker/app.ts";
import { api } from "./api-client.ts";

type Doc = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, any>>;
  components: { schemas: Record<string, any>; securitySchemes: Record<string, any> };
};
let doc: Doc;
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/** Hono's `/runs/:run` (or `:run{re}`) as OpenAPI's `/runs/{run}`. */
const openapiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, "{$1}");
const operations = () =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([m]) => METHODS.includes(m))
      .map(([method, op]) => ({ path, method, op, item })),
  );

beforeAll(async () => {
  const res = await api("GET", "/api/openapi.json", { token: null });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  doc = res.json;
});

describe("the OpenAPI document", () => {
  it("is served without a token and lists every route the worker serves", () => {
    const served = new Set(
      createApp()
        .routes.filter((r) => r.method !== "ALL" && r.path !== "/api/openapi.json")
        .map((r) => `${r.method.toLowerCase()} ${openapiPath(r.path)}`),
    );
    const documented = new Set(operations().map((o) => `${o.method} ${o.path}`));
    expect([...served].filter((r) => !documented.has(r)), "routes missing from the document").toEqual([]);
    expect([...documented].filter((r) => !served.has(r)), "documented routes that do not exist").toEqual([]);
  });

  it("documents every route of the DESIGN.md §5 contract", () => {
    const contract = [
      "post /api/v1/projects",
      "get /api/v1/projects",
      "put /api/v1/projects/{project}/pipelines/{pipeline}",
      "get /api/v1/projects/{project}/pipelines",
      "post /api/v1/projects/{project}/pipelines/{pipeline}/runs",
      "get /api/v1/runs",
      "get /api/v1/runs/{run}",
      "post /api/v1/runs/{run}/cancel",
      "post /api/v1/runs/{run}/rerun",
      "get /api/v1/runs/{run}/jobs/{job}/log",
      "get /api/v1/runs/{run}/live",
      "get /api/v1/queue",
      "post /api/v1/queue/reorder",
      "post /api/v1/queue/cancel",
      "get /api/v1/queue/live",
      "get /api/v1/artifacts",
      "get /api/v1/artifacts/{artifact}/download",
      "get /api/v1/agents",
      "post /api/v1/agent-tokens",
      "post /api/v1/tokens",
      "post /api/v1/webhooks/github/{project}",
    ];
    const documented = new Set(operations().map((o) => `${o.method} ${o.path}`));
    expect(contract.filter((r) => !documented.has(r))).toEqual([]);
  });

  it("is OpenAPI 3.1 in shape", () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(typeof doc.info.title).toBe("string");
    expect(typeof doc.info.version).toBe("string");
    const operationIds = new Set<string>();
    for (const { path, method, op, item } of operations()) {
      const where = `${method} ${path}`;
      expect(path, where).toMatch(/^\//);
      expect(typeof op.summary === "string" || typeof op.description === "string", `${where} says what it does`).toBe(true);
      if (op.operationId !== undefined) {
        expect(operationIds.has(op.operationId), `${where}: operationId ${op.operationId} is unique`).toBe(false);
        operationIds.add(op.operationId);
      }
      // Responses: at least one, keyed by status code, each with a description.
      const responses = Object.entries(op.responses ?? {});
      expect(responses.length, `${where} has responses`).toBeGreaterThan(0);
      for (const [code, response] of responses as [string, any][]) {
        expect(code, where).toMatch(/^([1-5](\d\d|XX)|default)$/);
        expect(typeof response.description, `${where} ${code} description`).toBe("string");
      }
      // Parameters: known places; every {param} of the path is declared, required, and no other.
      const params = [...(item.parameters ?? []), ...(op.parameters ?? [])];
      for (const p of params) {
        expect(["query", "header", "path", "cookie"], where).toContain(p.in);
        expect(typeof p.name, where).toBe("string");
        expect(p.schema ?? p.content, `${where} ${p.name} has a schema`).toBeDefined();
      }
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      const declared = params.filter((p) => p.in === "path");
      expect(declared.map((p) => p.name).sort(), `${where} path parameters`).toEqual(templated);
      for (const p of declared) expect(p.required, `${where} ${p.name} is required`).toBe(true);
      if (op.requestBody) expect(Object.keys(op.requestBody.content ?? {}).length, `${where} body has a media type`).toBeGreaterThan(0);
      // Security names only declared schemes.
      for (const requirement of op.security ?? []) {
        for (const scheme of Object.keys(requirement)) expect(doc.components.securitySchemes, `${where} ${scheme}`).toHaveProperty(scheme);
      }
    }
  });

  it("every $ref resolves inside the document", () => {
    const refs: string[] = [];
    const walk = (node: unknown) => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node && typeof node === "object") {
        for (const [k, v] of Object.entries(node)) {
          if (k === "$ref" && typeof v === "string") refs.push(v);
          else walk(v);
        }
      }
    };
    walk(doc);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of new Set(refs)) {
      expect(ref, ref).toMatch(/^#\//);
      const target = ref
        .slice(2)
        .split("/")
        .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"))
        .reduce<any>((node, part) => node?.[part], doc);
      expect(target, `${ref} resolves`).toBeDefined();
    }
  });

  it("the user API asks for a bearer token and documents its errors as {error: {code, message, details?}}", () => {
    const error = doc.components.schemas.Error;
    expect(error.properties.error.required.sort()).toEqual(["code", "message"]);
    expect(Object.keys(error.properties.error.properties).sort()).toEqual(["code", "details", "message"]);
    for (const { path, method, op } of operations()) {
      // Webhooks carry a signature, live streams a ticket; signing in carries the token in its
      // body and signing out only clears the cookie.
      if (!path.startsWith("/api/v1/") || path.includes("/webhooks/") || path.endsWith("/live")) continue;
      if (path === "/api/v1/session" && method !== "get") continue;
      expect(op.security?.length ?? 0, `${method} ${path} needs a token`).toBeGreaterThan(0);
      expect(op.responses, `${method} ${path} documents 401`).toHaveProperty("401");
    }
  });

  it("names the contract's fields in its Run, RunAttempt, Job, JobAttempt and Step schemas", () => {
    const fields: Record<string, string[]> = {
      Run: ["id", "number", "project", "pipeline", "branch", "commit", "trigger", "status", "attempt", "createdAt", "startedAt", "endedAt", "attempts"],
      RunAttempt: ["id", "number", "status", "startedAt", "endedAt", "jobs"],
      Job: ["id", "key", "status", "needs", "labels", "agent", "outputs", "attempts"],
      JobAttempt: ["id", "number", "status", "agent", "reason", "startedAt", "endedAt", "steps"],
      Step: ["id", "status", "exitCode", "outputs", "metrics", "startedAt", "endedAt", "attempts"],
    };
    for (const [name, expected] of Object.entries(fields)) {
      const schema = doc.components.schemas[name];
      expect(schema, name).toBeDefined();
      expect(Object.keys(schema.properties), name).toEqual(expect.arrayContaining(expected));
      expect(schema.required, name).toEqual(expect.arrayContaining(expected));
    }
    const runView = doc.paths["/api/v1/runs/{run}"]!.get.responses["200"].content["application/json"].schema;
    expect(runView.$ref).toBe("#/components/schemas/Run");
    expect(doc.components.schemas.Run.properties.status.enum.sort()).toEqual(
      ["CREATED", "RUNNING", "SUCCESS", "WARNING", "FAILED", "KILLING", "KILLED", "RESTARTED"].sort(),
    );
  });
});
