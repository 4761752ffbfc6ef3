/**
 * What the agent keeps: `<state-dir>/state.json` (its identity and agent token; mode 0600 in a
 * 0700 dir, written atomically), outside the work dir where jobs run, and `agent.lock` in both
 * the state dir and the work dir (one agent per each). Agents from before the state dir kept
 * `<work-dir>/agent.json`: it is moved to the state dir at start (same identity).
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";

export const StoredAgent = z.object({
  url: z.string(),
  agentId: z.string(),
  token: z.string(),
  queue: z.string(),
  heartbeatIntervalMs: z.number().int(),
  lostAfterMs: z.number().int(),
  name: z.string(),
  registeredAt: z.string(),
});
export type StoredAgent = z.infer<typeof StoredAgent>;

export function statePath(stateDir: string): string {
  return path.join(stateDir, "state.json");
}

/** Where agents before the state dir kept their identity (jobs could read it there). */
export function legacyStatePath(workDir: string): string {
  return path.join(workDir, "agent.json");
}

/** The stored identity, or undefined when there is none (or it cannot be read). */
export async function loadState(stateDir: string): Promise<{ state?: StoredAgent; problem?: string }> {
  return readStateFile(statePath(stateDir));
}

async function readStateFile(file: string): Promise<{ state?: StoredAgent; problem?: string }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    return { problem: `cannot read ${file}: ${(err as Error).message}` };
  }
  try {
    const parsed = StoredAgent.safeParse(JSON.parse(text));
    if (parsed.success) return { state: parsed.data };
    return { problem: `${file} is not a valid agent file` };
  } catch {
    return { problem: `${file} is not JSON` };
  }
}

/** Creates the state dir (or narrows an existing one) to 0700: only the agent's user enters. */
export async function prepareStateDir(stateDir: string): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  if (((await stat(stateDir)).mode & 0o077) !== 0) await chmod(stateDir, 0o700);
}

/**
 * Moves `<work-dir>/agent.json` of an older agent to `<state-dir>/state.json` (the agent keeps
 * its identity) and removes the old file. Refuses, rather than pick one, when both exist.
 */
export async function migrateLegacyState(workDir: string, stateDir: string): Promise<{ moved: boolean; problem?: string }> {
  const legacy = legacyStatePath(workDir);
  const old = await readStateFile(legacy);
  if (!old.state) {
    if (old.problem && !old.problem.startsWith("cannot read")) {
      // Unusable, but it may still hold a token: do not leave it where jobs can read it.
      await rm(legacy, { force: true });
    }
    return { moved: false, ...(old.problem ? { problem: old.problem } : {}) };
  }
  const current = await loadState(stateDir);
  if (current.state || current.problem) {
    return {
      moved: false,
      problem: `both ${legacy} and ${statePath(stateDir)} exist: remove the one of the agent you do not want (or give this agent its own --state-dir)`,
    };
  }
  await saveState(stateDir, old.state);
  await rm(legacy, { force: true });
  return { moved: true };
}

export async function saveState(stateDir: string, state: StoredAgent): Promise<void> {
  await prepareStateDir(stateDir);
  const file = statePath(stateDir);
  const tmp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600); // whatever the umask
  await rename(tmp, file);
}

export async function deleteState(stateDir: string): Promise<void> {
  await rm(statePath(stateDir), { force: true });
}

/**
 * Takes `<dir>/agent.lock` for this process. Throws when another live agent holds it; a lock
 * left by a process that is gone is taken over. `flag` names the option to tell apart agents.
 */
export async function acquireLock(dir: string, flag = "--work-dir"): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, "agent.lock");
  for (let i = 0; i < 2; i++) {
    try {
      const fh = await open(file, "wx", 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return async () => {
        await rm(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number((await readFile(file, "utf8").catch(() => "")).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isRunning(pid)) {
        throw new Error(`another agent (pid ${pid}) is using ${dir}; give each agent its own ${flag}`);
      }
      await rm(file, { force: true });
    }
  }
  throw new Error(`cannot lock ${dir}`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
