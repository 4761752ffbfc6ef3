/** Which agents the dashboard flags as older than the server's agent release. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { AGENT_VERSION, isOlderAgentVersion } from "../../../domain/agent-release.ts";

describe("agent release", () => {
  it("is the version the agent package carries", () => {
    const pkg = JSON.parse(readFileSync(path.resolve(import.meta.dirname, "../../../agent/package.json"), "utf8")) as { version: string };
    expect(pkg.version).toBe(AGENT_VERSION);
  });

  it("calls older releases old, by number not by text", () => {
    expect(isOlderAgentVersion("0.9.9", "0.10.0")).toBe(true);
    expect(isOlderAgentVersion("1.2.3", "1.2.4")).toBe(true);
    expect(isOlderAgentVersion("1.2.3-rc.1", "1.2.3")).toBe(true);
    expect(isOlderAgentVersion("v1.1.0", "1.2.0")).toBe(true);
  });

  it("does not flag the current release, newer ones, or versions that are not releases", () => {
    expect(isOlderAgentVersion(AGENT_VERSION)).toBe(false);
    expect(isOlderAgentVersion("0.10.0", "0.9.9")).toBe(false);
    expect(isOlderAgentVersion("1.2.3", "1.2.3-rc.1")).toBe(false);
    expect(isOlderAgentVersion("dev", "1.0.0")).toBe(false);
    expect(isOlderAgentVersion("", "1.0.0")).toBe(false);
  });
});
