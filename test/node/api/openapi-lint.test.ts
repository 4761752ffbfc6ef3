/**
 * GET /api/openapi.json is a description tools accept: `redocly lint` with the recommended rules
 * finds 0 errors and 0 warnings (test/fixtures/redocly: three justified exceptions, and only
 * those), and every operation has a unique camelCase, verb-first operationId — a route added
 * without one fails here until it is named (generated clients name their methods after it).
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../../worker/app.ts";

const repo = path.resolve(import.meta.dirname, "../../..");
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
let doc: { paths: Record<string, Record<string, { operationId?: string; security?: unknown[] }>>; servers?: unknown[] };
let dir: string;

beforeAll(async () => {
  const res = await createApp().request("http://localhost/api/openapi.json");
  expect(res.status).toBe(200);
  doc = (await res.json()) as typeof doc;
  dir = mkdtempSync(path.join(tmpdir(), "ym-openapi-lint-"));
  cpSync(path.join(repo, "test/fixtures/redocly"), dir, { recursive: true });
  writeFileSync(path.join(dir, "openapi.json"), JSON.stringify(doc, null, 2));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const operations = () =>
  Object.entries(doc.paths).flatMap(([p, item]) =>
    Object.entries(item)
      .filter(([m]) => METHODS.includes(m))
      .map(([method, op]) => ({ where: `${method} ${p}`, op })),
  );

describe("the OpenAPI document under redocly lint", () => {
  it("has 0 errors and 0 warnings under the recommended rules", () => {
    const lint = spawnSync(path.join(repo, "node_modules/.bin/redocly"), ["lint", "--format=json", "openapi.json"], {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
      timeout: 120_000,
    });
    let report: { totals: { errors: number; warnings: number; ignored: number }; problems: { ruleId: string; message: string; location: { pointer: string }[] }[] };
    try {
      report = JSON.parse(lint.stdout);
    } catch {
      throw new Error(`redocly lint printed no report (exit ${lint.status}):\n${lint.stdout}\n${lint.stderr}`);
    }
    const problems = report.problems.map((p) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`);
    expect(problems).toEqual([]);
    expect(report.totals).toEqual({ errors: 0, warnings: 0, ignored: 3 });
  }, 120_000);

  it("names every operation: a unique operationId, camelCase, verb first", () => {
    const ids = new Map<string, string>();
    const unnamed: string[] = [];
    for (const { where, op } of operations()) {
      if (typeof op.operationId !== "string") {
        unnamed.push(where);
        continue;
      }
      expect(op.operationId, `${where}: camelCase, verb first (listRuns, getRun)`).toMatch(/^[a-z]+[A-Z][A-Za-z0-9]*$/);
      expect(ids.get(op.operationId), `${where} reuses ${op.operationId}`).toBeUndefined();
      ids.set(op.operationId, where);
    }
    expect(unnamed, "operations without an operationId (add `operationId` to their createRoute)").toEqual([]);
  });

  it("says the security of every operation, [] for the public ones", () => {
    for (const { where, op } of operations()) expect(Array.isArray(op.security), where).toBe(true);
    expect(doc.paths["/api/health"]?.get?.security).toEqual([]);
    expect(doc.servers).toEqual([expect.objectContaining({ url: "/" })]);
  });
});
