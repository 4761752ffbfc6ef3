/**
 * `--run-as USER`: the agent runs as root and every step (and git checkout) runs as USER, so a
 * job cannot read the agent's state dir, its token file, or its /proc entries (another uid).
 *
 * Node's spawn takes a uid and gid but drops every supplementary group (libuv calls
 * setgroups(0)); a user with more groups gets them through `setpriv` (util-linux) instead.
 * Each job gets a work dir and a HOME of its own, owned by USER; the scripts and YM_OUTPUT /
 * YM_METRICS files are USER's, in a dir USER cannot change (so none can be swapped for a
 * symlink to something only root may read, which the agent would then read back as root).
 */
import { execFileSync } from "node:child_process";
import { chmod, chown, mkdir, stat } from "node:fs/promises";
import path from "node:path";

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
