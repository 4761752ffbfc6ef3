/**
 * Pieces of the fuzz tests: the routes as the OpenAPI document lists them (so a new route is
 * fuzzed without anyone listing it), fast-check generators of hostile requests for a route —
 * path params, query strings, headers, bodies of every kind — and the checks every answer must
 * pass: never a 5xx, every refusal a JSON `{error: {code, message, details?}}`, and a refused
 * write leaves D1 and the runs exactly as they were.
 */
import { env, exports } from "cloudflare:workers";
import fc from "fast-check";
import { expect } from "vitest";
import { api } from "./api-client.ts";

export interface Operation {
  method: string;
  /** e.g. /api/v1/runs/{run}/cancel */
  path: string;
  pathParams: string[];
  query: { name: string; required: boolean }[];
  /** The request body's content types, and the JSON schema of the JSON one. */
  contentTypes: string[];
  jsonSchema: any;
}

export async function operations(): Promise<{ doc: any; ops: Operation[] }> {
  const doc = (await api("GET", "/api/openapi.json", { token: null })).json;
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(methods)) {
      const params: any[] = op.parameters ?? [];
      const content = op.requestBody?.content ?? {};
      ops.push({
        method: method.toUpperCase(),
        path,
        pathParams: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!),
        query: params.filter((p) => p.in === "query").map((p) => ({ name: p.name, required: !!p.required })),
        contentTypes: Object.keys(content),
        jsonSchema: content["application/json"]?.schema ?? null,
      });
    }
  }
  return { doc, ops };
}

// ── values ───────────────────────────────────────────────────────────────────────────────

/** Strings people and attackers send: unicode, controls, markup, traversal, SQL, huge. */
export const nastyString = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "",
      " ",
      "..",
      "../../etc/passwd",
      "%00",
      "\u0000",
      "<script>alert(1)</script>",
      "'; DROP TABLE runs; --",
      "\u202e\u0000\ud800",
      "${{ secrets.X }}",
      "0190a0a0-0000-7000-8000-000000000000",
      "-1",
      "1e309",
      "NaN",
      "null",
      "{}",
      "a".repeat(300),
    ),
  },
  { weight: 1, arbitrary: fc.nat({ max: 200_000 }).map((n) => "x".repeat(n)) },
);

/** Any JSON value, deep or wide. */
export const anyJson = fc.jsonValue({ maxDepth: 4 });

/**
 * Plausible values by property name (a real project, job ids, scopes…), so that generated bodies
 * get past validation often enough to reach the handlers. Names in `PINNED` take only these (or
 * wrong types): a claim's `waitSeconds` would otherwise hold requests for 25 s.
 */
export type Hints = Record<string, unknown[]>;
const PINNED = new Set(["waitSeconds"]);

/** A value for a JSON schema: mostly of the right shape, often of a wrong type, sometimes absurd. */
export function fromSchema(schema: any, doc: any, hints: Hints = {}, depth = 0, name = ""): fc.Arbitrary<unknown> {
  if (!schema || depth > 5) return anyJson;
  if (schema.$ref) return fromSchema(resolveRef(schema.$ref, doc), doc, hints, depth + 1, name);
  const wrong = fc.oneof(anyJson, nastyString, fc.constantFrom(null, -1, 1.5, 2 ** 53, true, [], {}));
  const hinted = hints[name]?.length ? fc.constantFrom(...hints[name]!) : null;
  if (hinted && PINNED.has(name)) return fc.oneof({ weight: 9, arbitrary: hinted }, { weight: 1, arbitrary: wrong.filter((v) => typeof v !== "number") });
  let right: fc.Arbitrary<unknown>;
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) right = fc.oneof(...alternatives.map((s: any) => fromSchema(s, doc, hints, depth + 1, name)));
  else if (schema.enum) right = fc.constantFrom(...schema.enum);
  else if (schema.const !== undefined) right = fc.constant(schema.const);
  else if (schema.type === "object" || schema.properties) {
    const props = schema.properties ?? {};
    const keys = Object.keys(props);
    const required = new Set<string>(schema.required ?? []);
    right = fc
      .tuple(
        fc.record(Object.fromEntries(keys.map((k) => [k, fromSchema(props[k], doc, hints, depth + 1, k)])), { requiredKeys: [] }),
        fc.record(Object.fromEntries([...required].filter((k) => props[k]).map((k) => [k, fromSchema(props[k], doc, hints, depth + 1, k)]))),
        fc.dictionary(fc.string({ maxLength: 10 }), anyJson, { maxKeys: 2 }),
        fc.boolean(),
      )
      .map(([some, needed, extra, withExtra]) => ({ ...(withExtra ? extra : {}), ...some, ...needed }));
  } else if (schema.type === "array") right = fc.array(fromSchema(schema.items, doc, hints, depth + 1, name), { maxLength: 5 });
  else if (schema.type === "string") {
    const patterned = schema.pattern ? [fc.stringMatching(new RegExp(schema.pattern)).map((v) => v.slice(0, schema.maxLength ?? 5000))] : [];
    right = fc.oneof(nastyString, ...patterned);
  } else if (schema.type === "integer") right = fc.oneof(fc.integer({ min: schema.minimum ?? -10, max: Math.min(schema.maximum ?? 1000, 1e9) }), fc.constantFrom(0, 1, -1, 2 ** 31, Number.MAX_SAFE_INTEGER));
  else if (schema.type === "number") right = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer());
  else if (schema.type === "boolean") right = fc.boolean();
  else right = anyJson;
  if (hinted) right = fc.oneof({ weight: 3, arbitrary: hinted }, { weight: 1, arbitrary: right });
  return fc.oneof({ weight: 5, arbitrary: right }, { weight: 1, arbitrary: wrong });
}

function resolveRef(ref: string, doc: any): any {
  return ref
    .replace(/^#\//, "")
    .split("/")
    .reduce((node: any, key) => node?.[key], doc);
}

// ── requests ─────────────────────────────────────────────────────────────────────────────

export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

/** Real values the routes know (a project, a run, a job, ids), so fuzzing reaches the handlers. */
export type Known = Record<string, unknown[]>;

/** encodeURIComponent, which throws on lone surrogates: those become U+FFFD first. */
export const enc = (s: string) => encodeURIComponent(s.toWellFormed());

/** A path segment: a real value, an encoded hostile string, or raw broken percent-encoding. */
function segment(known: unknown[] | undefined): fc.Arbitrary<string> {
  const raw = fc.constantFrom("%", "%zz", "%E0%A4%A", "%2e%2e", "..", "%2F", "a%00b", "%C0%AF", "%FF");
  return fc.oneof(
    { weight: known?.length ? 5 : 0, arbitrary: known?.length ? fc.constantFrom(...known.map(String)) : fc.constant("x") },
    { weight: 3, arbitrary: nastyString.filter((s) => s.length > 0).map((s) => enc(s.slice(0, 2000))) },
    { weight: 1, arbitrary: raw },
  );
}

/** What a header may hold (fetch refuses CR, LF and NUL; non-ASCII is sent as UTF-8 with a warning). */
const headerValue = fc
  .string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 200 })
  .map((s) => s.trim());

/** The credentials a request carries: mostly the one its route takes (`preferred`), or any other, or junk. */
export function credentials(tokens: Record<string, string>, preferred: string): fc.Arbitrary<Record<string, string>> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.constant({ authorization: `Bearer ${tokens[preferred] ?? tokens.admin}` }) },
    { weight: 3, arbitrary: fc.constantFrom(...Object.values(tokens)).map((t) => ({ authorization: `Bearer ${t}` })) },
    { weight: 1, arbitrary: fc.constant({}) },
    { weight: 1, arbitrary: headerValue.map((v) => ({ authorization: v })) },
    { weight: 1, arbitrary: headerValue.map((v) => ({ authorization: `Bearer ${v.replace(/\s/g, "") || "x"}` })) },
    { weight: 1, arbitrary: headerValue.map((v) => ({ cookie: `ym_session=${enc(v)}` })) },
  );
}

const anyContentType = fc.constantFrom(
  undefined,
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "application/yaml",
  "application/octet-stream",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=xyz",
  "text/html",
  "garbage/\u00e9",
  "",
);

function body(op: Operation, doc: any, hints: Hints): fc.Arbitrary<string | Uint8Array | undefined> {
  const json = op.jsonSchema ? fromSchema(op.jsonSchema, doc, hints) : anyJson;
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 6, arbitrary: json.map((v) => JSON.stringify(v) ?? "null") },
    { weight: 2, arbitrary: anyJson.map((v) => JSON.stringify(v) ?? "null") },
    { weight: 1, arbitrary: fc.constantFrom("{", '{"a":', "[1,2", "nul", "{'a':1}", '{"a":1}}', "\ufeff{}", '"\\ud800"') },
    { weight: 1, arbitrary: nastyString },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
    { weight: 1, arbitrary: fc.constantFrom(1024 * 1024 + 10, 300 * 1024).map((n) => `{"x":"${"y".repeat(n)}"}`) },
  );
}

/** Which token a route takes, from its OpenAPI security scheme. */
function credentialFor(op: Operation): string {
  if (op.path.startsWith("/api/agent/v1/jobs/")) return "job";
  if (op.path === "/api/agent/v1/register") return "registration";
  if (op.path.startsWith("/api/agent/v1/")) return "agent";
  return "admin";
}

export function requestFor(op: Operation, doc: any, known: Known, tokens: Record<string, string>): fc.Arbitrary<FuzzRequest> {
  const own = op.contentTypes.length ? fc.constantFrom(...op.contentTypes) : anyContentType;
  const contentType = fc.oneof({ weight: 3, arbitrary: own }, { weight: 1, arbitrary: anyContentType });
  const params = fc.tuple(...op.pathParams.map((p) => segment(known[p])));
  const query = fc.tuple(
    ...op.query.map((q) =>
      fc.option(fc.oneof(segment(known[q.name]), fc.integer({ min: -5, max: 1000 }).map(String)), { freq: q.required ? 6 : 2 }).map((v) => (v === null ? "" : `${q.name}=${v}`)),
    ),
    fc.option(fc.tuple(fc.string({ maxLength: 8 }), nastyString).map(([k, v]) => `${enc(k)}=${enc(v.slice(0, 500))}`), { freq: 4 }),
  );
  const extraHeaders = fc.dictionary(fc.constantFrom("x-forwarded-for", "origin", "accept", "x-hub-signature-256", "x-github-event", "x-github-delivery", "x-yardmaster-projects", "if-none-match", "range"), headerValue, { maxKeys: 3 });
  return fc.record({ params, query, auth: credentials(tokens, credentialFor(op)), type: contentType, extra: extraHeaders, body: body(op, doc, known) }).map((r) => {
    let path = op.path;
    op.pathParams.forEach((p, i) => (path = path.replace(`{${p}}`, r.params[i]!)));
    const qs = r.query.filter((q): q is string => !!q).join("&");
    const headers: Record<string, string> = { ...r.extra, ...r.auth };
    if (r.type !== undefined) headers["content-type"] = r.type;
    return { method: op.method, path: qs ? `${path}?${qs}` : path, headers, body: op.method === "GET" ? undefined : r.body };
  });
}

export async function send(req: FuzzRequest) {
  const response = await exports.default.fetch(`http://yardmaster.test${req.path}`, { method: req.method, headers: req.headers, body: req.body });
  const text = await response.text();
  return { status: response.status, text, headers: response.headers };
}

/** Every answer: never a 5xx; a refusal is JSON `{error: {code, message, details?}}`. */
export function checkAnswer(req: FuzzRequest, res: { status: number; text: string; headers: Headers }): void {
  const where = `${req.method} ${req.path.slice(0, 200)} → ${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, where).toBeLessThan(500);
  if (res.status < 400) return;
  expect(res.headers.get("content-type") ?? "", where).toMatch(/^application\/json/);
  const body = JSON.parse(res.text);
  expect(Object.keys(body), where).toEqual(["error"]);
  expect(typeof body.error.code, where).toBe("string");
  expect(body.error.code.length, where).toBeGreaterThan(0);
  expect(typeof body.error.message, where).toBe("string");
  expect(body.error.message.length, where).toBeGreaterThan(5);
  for (const key of Object.keys(body.error)) expect(["code", "message", "details"], where).toContain(key);
}

// ── "never a partial write" ──────────────────────────────────────────────────────────────

/**
 * What a refused request must not change: every D1 table's rows (but the webhook deliveries'
 * log, which records refused deliveries on purpose, and tokens' last-use times), and the runs.
 */
export async function snapshot(runIds: string[]): Promise<string> {
  const tables = (await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%' ORDER BY name").all<{ name: string }>()).results;
  const names = tables.map((t) => t.name).filter((n) => n !== "webhook_deliveries");
  const results = await env.DB.batch(names.map((n) => env.DB.prepare(`SELECT * FROM "${n}"`)));
  const parts = names.map((n, i) => `${n}:${JSON.stringify((results[i]!.results as Record<string, unknown>[]).map(({ last_used_at: _l, ...row }) => row))}`);
  for (const id of runIds) {
    const run = (await api("GET", `/api/v1/runs/${id}`)).json;
    parts.push(JSON.stringify(run, (k, v) => (k === "durationMs" ? undefined : v)));
  }
  return parts.join("\n");
}
