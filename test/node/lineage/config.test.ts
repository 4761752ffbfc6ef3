// Lineage settings from the worker's vars, how a backend's answer is treated, the log tail of
// a failure, and the run-cycle guard on its own.
import { describe, expect, it } from "vitest";
import { deliveryOutcome, enforceRunCycle, lineageSettings, logTail } from "../../../domain/lineage/index.ts";

describe("lineage settings", () => {
  it("nothing configured without OPENLINEAGE_URL", () => {
    expect(lineageSettings({})).toEqual({ kind: "not_configured" });
    expect(lineageSettings({ OPENLINEAGE_URL: "  ", OPENLINEAGE_API_KEY: "k" })).toEqual({ kind: "not_configured" });
  });

  it("joins the URL and the endpoint (default api/v1/lineage) as a folder and a path in it", () => {
    const endpoint = (vars: Record<string, string>) => {
      const s = lineageSettings(vars);
      return s.kind === "configured" ? s.config.endpoint : s;
    };
    expect(endpoint({ OPENLINEAGE_URL: "http://marquez:5000" })).toBe("http://marquez:5000/api/v1/lineage");
    expect(endpoint({ OPENLINEAGE_URL: "https://ol.example/tenant-a" })).toBe("https://ol.example/tenant-a/api/v1/lineage");
    expect(endpoint({ OPENLINEAGE_URL: "https://ol.example/tenant-a/", OPENLINEAGE_ENDPOINT: "events" })).toBe("https://ol.example/tenant-a/events");
    expect(endpoint({ OPENLINEAGE_URL: "https://ol.example/tenant-a", OPENLINEAGE_ENDPOINT: "/api/v2/lineage" })).toBe("https://ol.example/api/v2/lineage");
  });

  it("API key and gzip", () => {
    expect(lineageSettings({ OPENLINEAGE_URL: "https://ol.example", OPENLINEAGE_API_KEY: " key ", OPENLINEAGE_COMPRESSION: "GZIP" })).toEqual({
      kind: "configured",
      config: { endpoint: "https://ol.example/api/v1/lineage", apiKey: "key", compression: "gzip" },
    });
    expect(lineageSettings({ OPENLINEAGE_URL: "https://ol.example", OPENLINEAGE_COMPRESSION: "none" })).toMatchObject({ config: { compression: null, apiKey: null } });
  });

  it("settings that make no sense are refused with a message, not guessed at", () => {
    for (const [vars, message] of [
      [{ OPENLINEAGE_URL: "marquez:5000/x y" }, /OPENLINEAGE_URL must be http/],
      [{ OPENLINEAGE_URL: "not a url" }, /OPENLINEAGE_URL is not a URL/],
      [{ OPENLINEAGE_URL: "ftp://ol.example" }, /must be http:\/\/ or https:\/\//],
      [{ OPENLINEAGE_URL: "https://ol.example", OPENLINEAGE_ENDPOINT: "https://elsewhere.example/x" }, /OPENLINEAGE_ENDPOINT must be a path/],
      [{ OPENLINEAGE_URL: "https://ol.example", OPENLINEAGE_COMPRESSION: "br" }, /OPENLINEAGE_COMPRESSION is gzip or none/],
    ] as const) {
      const s = lineageSettings(vars);
      expect(s.kind, JSON.stringify(vars)).toBe("invalid");
      if (s.kind === "invalid") expect(s.message).toMatch(message);
    }
  });
});

describe("backend answers", () => {
  it("2xx delivered; 408, 429 and 5xx retried; any other status recorded and not retried", () => {
    expect([200, 201, 202, 204].map(deliveryOutcome)).toEqual(["sent", "sent", "sent", "sent"]);
    expect([408, 429, 500, 502, 503, 504].map(deliveryOutcome)).toEqual(Array(6).fill("retry"));
    expect([400, 401, 403, 404, 409, 413, 422, 301, 304].map(deliveryOutcome)).toEqual(Array(9).fill("rejected"));
  });
});

describe("log tail", () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  it("keeps the last lines without colours, drops a cut first line and trailing blank lines", () => {
    expect(logTail(bytes("\u001b[32mok\u001b[0m\r\nfailed\n\n"), true)).toBe("ok\nfailed");
    expect(logTail(bytes("half a line\nwhole\n"), false)).toBe("whole");
    expect(logTail(bytes(Array.from({ length: 50 }, (_, i) => `l${i}`).join("\n")), true, 3)).toBe("l47\nl48\nl49");
    expect(logTail(bytes("\n\n"), true)).toBeNull();
    expect(logTail(bytes("\u001b]0;title\u0007visible"), true)).toBe("visible");
  });
});

describe("run-cycle guard", () => {
  const item = (runId: string, type: any) => ({ runId, type });
  const start = (i: { runId: string }) => ({ runId: i.runId, type: "START" as const });
  it("adds a START before an end that never started, drops a second START and anything after the end", () => {
    const nothing = () => ({ started: false, ended: false });
    expect(enforceRunCycle([item("a", "OTHER"), item("a", "ABORT")], nothing, start).kept.map((i) => i.type)).toEqual(["OTHER", "START", "ABORT"]);
    const r = enforceRunCycle([item("a", "START"), item("a", "START"), item("a", "FAIL"), item("a", "OTHER"), item("a", "COMPLETE")], nothing, start);
    expect(r.kept.map((i) => i.type)).toEqual(["START", "FAIL"]);
    expect(r.dropped.map((i) => i.type)).toEqual(["START", "OTHER", "COMPLETE"]);
  });
  it("continues what earlier commands recorded", () => {
    const ended = enforceRunCycle([item("a", "COMPLETE")], () => ({ started: true, ended: true }), start);
    expect(ended.kept).toEqual([]);
    const started = enforceRunCycle([item("a", "RUNNING"), item("a", "COMPLETE")], () => ({ started: true, ended: false }), start);
    expect(started.kept.map((i) => i.type)).toEqual(["RUNNING", "COMPLETE"]);
  });
});
