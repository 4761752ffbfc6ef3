/**
 * `--run-as USER`: the agent runs as root and every step (and git checkout) runs as USER, so a
 * job cannot read the agent's state dir, its token file, or its /proc entries (another uid).
 *
 * Node's spawn takes a uid and gid but drops every supplementary group (libuv calls
 * setgroups(0)); a user with more groups gets them through `setpriv` (util-linux) instead.
 * Each job gets a work dir and a HOME of its own, owned by USER; the scripts and YM_OUTPUT /
 * YM_METRICS files are USER's, in a dir USER cannot change (so none can be swapped for a
 * symlink to something only root may read, which the agent would then read back as root).
 * For the same reason artifacts are copied out of the job's work dir by a process running as
 * USER before the agent uploads them: a symlink to the state file reads as "permission denied".
 */
import { execFileSync, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { chmod, chown, mkdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { expandArtifacts } from "./artifacts.ts";

export interface StepUser {
  name: string;
  uid: number;
  gid: number;
  /** Every group of the user, the primary one included. */
  groups: number[];
  /** Supplementary groups can be given (setpriv is there); else steps get the primary group only. */
  setpriv: boolean;
}

export type ResolvedUser = { ok: true; user: StepUser; warning?: string } | { ok: false; message: string };

/** Looks the user up (`id`), and checks that the agent may switch to it. */
export function resolveStepUser(name: string, agentUid = process.getuid?.() ?? -1): ResolvedUser {
  if (agentUid !== 0) {
    return { ok: false, message: `--run-as ${name}: the agent must run as root to start steps as another user (it runs as uid ${agentUid})` };
  }
  const id = (args: string[]): string | undefined => {
    try {
      return execFileSync("id", [...args, "--", name], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    } catch {
      return undefined;
    }
  };
  const uidText = id(["-u"]);
  const uid = Number(uidText);
  const gid = Number(id(["-g"]));
  if (uidText === undefined || !Number.isInteger(uid) || !Number.isInteger(gid)) {
    return { ok: false, message: `--run-as: there is no user "${name}" on this machine` };
  }
  if (uid === 0) return { ok: false, message: `--run-as ${name}: that is root; give a user without root's rights` };
  const groups = [...new Set((id(["-G"]) ?? String(gid)).split(/\s+/).filter(Boolean).map(Number))].filter(Number.isInteger);
  const extra = groups.some((g) => g !== gid);
  const setpriv = extra && hasSetpriv();
  return {
    ok: true,
    user: { name, uid, gid, groups, setpriv },
    ...(extra && !setpriv
      ? { warning: `--run-as ${name}: setpriv (util-linux) is not installed, so steps get only the user's primary group ${gid}, not ${groups.join(",")}` }
      : {}),
  };
}

function hasSetpriv(): boolean {
  try {
    execFileSync("setpriv", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** How to spawn `command args` as the user: spawn's uid/gid, or through setpriv for the groups. */
export function commandAs(
  user: StepUser,
  command: string,
  args: readonly string[],
): { command: string; args: string[]; uid?: number; gid?: number } {
  if (!user.setpriv) return { command, args: [...args], uid: user.uid, gid: user.gid };
  return {
    command: "setpriv",
    args: [`--reuid=${user.uid}`, `--regid=${user.gid}`, `--groups=${user.groups.join(",")}`, "--", command, ...args],
  };
}

/** The step's own identity in its environment. */
export function userEnv(user: StepUser, home: string): Record<string, string> {
  return { HOME: home, USER: user.name, LOGNAME: user.name };
}

/** Makes dirs the user's own (0700): a job's work dir and HOME. */
export async function giveDirs(user: StepUser, dirs: readonly string[]): Promise<void> {
  for (const dir of dirs) {
    await mkdir(dir, { recursive: true });
    await chown(dir, user.uid, user.gid);
    await chmod(dir, 0o700);
  }
}

/** Files the agent wrote for a step (its script, YM_OUTPUT, YM_METRICS) that the step writes. */
export async function giveFiles(user: StepUser, files: readonly string[]): Promise<void> {
  for (const file of files) await chown(file, user.uid, user.gid);
}

/**
 * Root-owned dirs that the user must pass through but not list or change (the work dir, its
 * `jobs`, `tmp` and `home`): 0711.
 */
export async function openForPassage(dirs: readonly string[]): Promise<void> {
  for (const dir of dirs) {
    await mkdir(dir, { recursive: true, mode: 0o711 });
    await chmod(dir, 0o711);
  }
}

/**
 * Whether the user can reach `dir` (search permission on it and every dir above it); a message
 * naming the first one that stops it, or undefined.
 */
export async function unreachableBy(user: StepUser, dir: string): Promise<string | undefined> {
  let current = path.resolve(dir);
  for (;;) {
    const st = await stat(current);
    const bits = st.uid === user.uid ? 0o100 : user.groups.includes(st.gid) ? 0o010 : 0o001;
    if ((st.mode & bits) === 0) {
      return `--run-as ${user.name}: the user cannot enter ${current} (mode ${(st.mode & 0o777).toString(8)}, owner ${st.uid}:${st.gid}), so its steps could not reach ${dir}; choose a --work-dir it can reach`;
    }
    const parent = path.dirname(current);
    if (parent === current) return undefined;
    current = parent;
  }
}

/**
 * Copies the files the artifact patterns match from `workspace` into `stagingDir` (root's, 0700),
 * each read by `cat` running as the user, so that only what the user can read is uploaded.
 * Returns the dir to upload from and how many files were skipped (the user cannot read them).
 */
export async function stageArtifactsAs(
  user: StepUser,
  patterns: readonly string[],
  workspace: string,
  stagingDir: string,
  options: { signal: AbortSignal; note: (line: string) => void },
): Promise<{ dir: string; skipped: number }> {
  await rm(stagingDir, { recursive: true, force: true });
  await mkdir(stagingDir, { recursive: true, mode: 0o700 });
  // Links out of the work dir are refused before anything is read (agent/artifacts.ts); what is
  // left is read as the user, so a file the user could not read is not uploaded either.
  const { files, refused, warnings } = await expandArtifacts(patterns, workspace);
  for (const warning of warnings) options.note(`warning: ${warning}`);
  let skipped = refused.length;
  for (const file of files) {
    const dest = path.join(stagingDir, file.name);
    await mkdir(path.dirname(dest), { recursive: true, mode: 0o700 });
    const error = await copyAs(user, file.path, dest, options.signal);
    if (error) {
      await rm(dest, { force: true });
      skipped += 1;
      options.note(`warning: artifact "${file.name}" skipped: ${user.name} cannot read it (${error})`);
    }
  }
  return { dir: stagingDir, skipped };
}

async function copyAs(user: StepUser, from: string, to: string, signal: AbortSignal): Promise<string | undefined> {
  const { command, args, uid, gid } = commandAs(user, "cat", ["--", from]);
  const child = spawn(command, args, {
    cwd: "/",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    stdio: ["ignore", "pipe", "pipe"],
    signal,
    ...(uid !== undefined ? { uid } : {}),
    ...(gid !== undefined ? { gid } : {}),
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    if (stderr.length < 1000) stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on("error", () => resolve(null));
    child.on("close", (code) => resolve(code));
  });
  try {
    await pipeline(child.stdout, createWriteStream(to, { flags: "wx", mode: 0o600 }));
  } catch (err) {
    child.kill("SIGKILL");
    await exited;
    return (err as Error).message;
  }
  const code = await exited;
  return code === 0 ? undefined : stderr.trim().split("\n").at(-1) || `exit code ${code}`;
}
