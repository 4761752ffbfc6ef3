import { describe, expect, it } from "vitest";
import { commandAs, resolveStepUser, type StepUser } from "../../../agent/run-as.ts";
import { startProcess } from "../../../agent/step-process.ts";

const isRoot = process.getuid?.() === 0;

async function run(user: StepUser, script: string): Promise<string> {
  const out: Buffer[] = [];
  const p = startProcess({
    command: "bash",
    args: ["-c", script],
    cwd: "/",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    killGraceMs: 100,
    onOutput: (c) => out.push(c) > 0,
    waitForDrain: async () => {},
    user,
  });
  const result = await p.done;
  expect(result.exitCode, Buffer.concat(out).toString()).toBe(0);
  return Buffer.concat(out).toString().trim();
}

describe("--run-as", () => {
  it("needs root, a user that exists, and not root itself", () => {
    expect(resolveStepUser("nobody", 1000)).toMatchObject({ ok: false, message: /must run as root/ });
    expect(resolveStepUser("no-such-user-ym14", 0)).toMatchObject({ ok: false, message: /no user "no-such-user-ym14"/ });
    expect(resolveStepUser("root", 0)).toMatchObject({ ok: false, message: /that is root/ });
    expect(resolveStepUser("nobody", 0)).toMatchObject({ ok: true, user: { name: "nobody", uid: 65534 } });
  });

  it("spawns with uid/gid, or through setpriv when the user has more groups", () => {
    const plain: StepUser = { name: "u", uid: 7, gid: 8, groups: [8], setpriv: false };
    expect(commandAs(plain, "bash", ["s"])).toEqual({ command: "bash", args: ["s"], uid: 7, gid: 8 });
    expect(commandAs({ ...plain, groups: [8, 9], setpriv: true }, "bash", ["s"])).toEqual({
      command: "setpriv",
      args: ["--reuid=7", "--regid=8", "--groups=8,9", "--", "bash", "s"],
    });
  });

  it.skipIf(!isRoot)("a step runs as the user, with its supplementary groups, in its own process group", async () => {
    const nobody = { name: "nobody", uid: 65534, gid: 65534, groups: [65534], setpriv: false };
    expect(await run(nobody, "id -u; id -G")).toBe("65534\n65534");
    const withGroups = { ...nobody, groups: [65534, 100], setpriv: true };
    expect(await run(withGroups, "id -u; id -G")).toBe("65534\n65534 100");
    // detached: the step leads its own group (the agent stops the whole group)
    expect(await run(withGroups, "ps -o pgid= -p $$ | tr -d ' '; echo $$")).toMatch(/^(\d+)\n\1$/);
  });
});
