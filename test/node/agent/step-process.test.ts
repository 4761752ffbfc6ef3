import { describe, expect, it } from "vitest";
import { processAlive, processGroupAlive, shellCommand, splitWords, startProcess } from "../../../agent/step-process.ts";

describe("shells", () => {
  it("defaults to bash without profiles, -e and pipefail", () => {
    expect(shellCommand(null, "/s.sh")).toEqual({ command: "bash", args: ["--noprofile", "--norc", "-eo", "pipefail", "/s.sh"] });
    expect(shellCommand("bash", "/s.sh")).toEqual(shellCommand(null, "/s.sh"));
  });
  it("knows sh and python, fills {0}, appends the path when there is no {0}", () => {
    expect(shellCommand("sh", "/s")).toEqual({ command: "sh", args: ["-e", "/s"] });
    expect(shellCommand("python", "/s")).toEqual({ command: "python3", args: ["/s"] });
    expect(shellCommand("sh -e {0}", "/s")).toEqual({ command: "sh", args: ["-e", "/s"] });
    expect(shellCommand("perl -w", "/s")).toEqual({ command: "perl", args: ["-w", "/s"] });
    expect(shellCommand(`pwsh -command ". '{0}'"`, "/s")).toEqual({ command: "pwsh", args: ["-command", ". '/s'"] });
  });
  it("splits words with quotes", () => {
    expect(splitWords(` a "b c" 'd "e"' f""g `)).toEqual(["a", "b c", 'd "e"', "fg"]);
    expect(splitWords(`x ""`)).toEqual(["x", ""]);
  });
});

describe("startProcess", () => {
  const base = { cwd: "/tmp", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, waitForDrain: async () => {} };

  it("cancel stops the whole group: SIGTERM, then SIGKILL for what ignores it", async () => {
    const out: Buffer[] = [];
    const c = new AbortController();
    const p = startProcess({
      ...base,
      command: "bash",
      args: ["-c", `trap '' TERM; sleep 100 & echo $!; echo ready; wait`],
      killGraceMs: 300,
      signal: c.signal,
      onOutput: (b) => {
        out.push(b);
        if (Buffer.concat(out).toString().includes("ready")) c.abort();
        return true;
      },
    });
    const started = Date.now();
    const r = await p.done;
    expect(r.cancelled).toBe(true);
    expect(r.signal).toBe("SIGKILL");
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    const child = Number(Buffer.concat(out).toString().split("\n")[0]);
    expect(processAlive(child)).toBe(false);
    expect(processGroupAlive(p.pid!)).toBe(false);
  });

  it("reports a shell that does not exist as a spawn error", async () => {
    const r = await startProcess({ ...base, command: "no-such-binary-xyz", args: [], killGraceMs: 10, onOutput: () => true }).done;
    expect(r.spawnError).toBeInstanceOf(Error);
    expect(r.exitCode).toBeNull();
  });

  it("a cwd that does not exist is a spawn error too", async () => {
    const r = await startProcess({ ...base, cwd: "/no/such/dir", command: "true", args: [], killGraceMs: 10, onOutput: () => true }).done;
    expect(r.spawnError).toBeInstanceOf(Error);
  });
});
