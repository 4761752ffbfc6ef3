import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { defaultStateDir, parseConfig, stepBaseEnv } from "../../../agent/config.ts";

describe("agent config", () => {
  it("reads flags", () => {
    const r = parseConfig(
      ["--url", "https://ci.example.com/", "--token", "t", "--labels", "linux,node, gpu", "--name", "box", "--work-dir", "/tmp/w", "--state-dir", "/tmp/s", "--run-as", "nobody", "--concurrency", "3", "--kill-grace", "2.5"],
      {},
    );
    expect(r).toEqual({
      kind: "config",
      config: {
        url: "https://ci.example.com",
        token: "t",
        labels: ["linux", "node", "gpu"],
        name: "box",
        workDir: "/tmp/w",
        stateDir: "/tmp/s",
        runAs: "nobody",
        concurrency: 3,
        killGraceMs: 2500,
        logLevel: "info",
      },
    });
  });

  it("falls back to environment variables; flags win", () => {
    const env = { YM_URL: "http://a", YM_TOKEN: "e", YM_LABELS: "x", YM_NAME: "n", YM_WORK_DIR: "rel", YM_CONCURRENCY: "2" };
    const r = parseConfig(["--labels", "y"], env);
    expect(r.kind).toBe("config");
    if (r.kind !== "config") return;
    expect(r.config).toMatchObject({ url: "http://a", token: "e", labels: ["y"], name: "n", concurrency: 2 });
    expect(r.config.workDir).toBe(path.resolve("rel"));
  });

  it("refuses what is wrong, with a message", () => {
    expect(parseConfig([], {})).toMatchObject({ kind: "error", message: /--url/ });
    expect(parseConfig(["--url", "ftp://x"], {})).toMatchObject({ kind: "error" });
    expect(parseConfig(["--url", "http://x", "--concurrency", "0"], {})).toMatchObject({ kind: "error", message: /concurrency/ });
    expect(parseConfig(["--url", "http://x", "--labels", "bad label!"], {})).toMatchObject({ kind: "error", message: /labels/ });
    expect(parseConfig(["--url", "http://x", "--nope"], {})).toMatchObject({ kind: "error" });
  });

  it("--token-file: a path (read by the CLI), exclusive with --token", () => {
    const r = parseConfig(["--url", "http://x", "--token-file", "tok"], {});
    expect(r).toMatchObject({ kind: "config", config: { token: undefined, tokenFile: path.resolve("tok") } });
    expect(parseConfig(["--url", "http://x"], { YM_TOKEN_FILE: "/t" })).toMatchObject({ config: { tokenFile: "/t" } });
    expect(parseConfig(["--url", "http://x", "--token-file", "tok"], { YM_TOKEN: "t" })).toMatchObject({ kind: "error", message: /not both/ });
  });

  it("the state dir: outside the work dir; by default the XDG state dir, or /var/lib as root", () => {
    expect(parseConfig(["--url", "http://x", "--work-dir", "/w", "--state-dir", "/w/state"], {})).toMatchObject({ kind: "error", message: /inside the work dir/ });
    expect(parseConfig(["--url", "http://x", "--work-dir", "/w", "--state-dir", "/w"], {})).toMatchObject({ kind: "error" });
    expect(parseConfig(["--url", "http://x", "--work-dir", "/w", "--state-dir", "/wx"], {})).toMatchObject({ kind: "config", config: { stateDir: "/wx" } });
    expect(defaultStateDir({}, 0)).toBe("/var/lib/yardmaster-agent");
    expect(defaultStateDir({ XDG_STATE_HOME: "/x/state" }, 1000)).toBe("/x/state/yardmaster-agent");
    expect(defaultStateDir({}, 1000)).toBe(path.join(os.homedir(), ".local/state/yardmaster-agent"));
  });

  it("has help and version", () => {
    expect(parseConfig(["--help"], {})).toMatchObject({ kind: "help", text: expect.stringContaining("YM_WORK_DIR") });
    expect(parseConfig(["-v"], {})).toEqual({ kind: "version" });
  });

  it("steps do not inherit the agent's tokens", () => {
    expect(stepBaseEnv({ PATH: "/bin", YM_TOKEN: "secret", YM_AGENT_TOKEN: "s", YM_TOKEN_FILE: "/f", YM_URL: "u", HOME: undefined })).toEqual({
      PATH: "/bin",
      YM_URL: "u",
    });
  });
});
