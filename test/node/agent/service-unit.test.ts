/**
 * agent/yardmaster-agent.service: systemd accepts it (`systemd-analyze verify`, where systemd is
 * installed), and it says what docs/agent.md promises: a graceful stop, restarts after a crash
 * but never after a revocation (exit 3), the token from a root-only file, its own user.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const unitFile = path.resolve(import.meta.dirname, "../../../agent/yardmaster-agent.service");
const unit = readFileSync(unitFile, "utf8");
const hasSystemd = spawnSync("systemd-analyze", ["--version"]).status === 0;

/** The values a key has in the unit, in order (comments and continuation-free lines only). */
function values(key: string): string[] {
  return unit
    .split("\n")
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

describe("the agent's systemd unit", () => {
  it.skipIf(!hasSystemd)("passes systemd-analyze verify with no complaint", () => {
    const r = spawnSync("systemd-analyze", ["verify", unitFile], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("stops gracefully: SIGTERM to the agent alone, SIGKILL to what is left after a timeout", () => {
    expect(values("KillMode")).toEqual(["mixed"]);
    expect(values("KillSignal")).toEqual(["SIGTERM"]);
    expect(values("TimeoutStopSec")).toHaveLength(1);
  });

  it("restarts after a failure but not after the agent was revoked (exit 3)", () => {
    expect(values("Restart")).toEqual(["on-failure"]);
    expect(values("RestartPreventExitStatus")[0]?.split(/\s+/)).toContain("3");
  });

  it("runs as its own user, with the registration token from a root-only credential file", () => {
    expect(values("User")).toEqual(["yardmaster-agent"]);
    expect(values("LoadCredential")[0]).toMatch(/^registration-token:\/etc\//);
    expect(values("ExecStart")[0]).toContain("--token-file ${CREDENTIALS_DIRECTORY}/registration-token");
  });
});
