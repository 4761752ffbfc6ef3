/**
 * What the agent keeps in its work dir: `agent.json` (its identity and agent token; mode
 * 0600, written atomically) and `agent.lock` (one agent per work dir).
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
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

export function statePath(workDir: string): string {
  return path.join(workDir, "agent.json");
}

/** The stored identity, or undefined when there is none (or it cannot be read). */
export async function loadState(workDir: string): Promise<{ state?: StoredAgent; problem?: string }> {
  let text: string;
  try {
    text = await readFile(statePath(workDir), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    return { problem: `cannot read ${statePath(workDir)}: ${(err as Error).message}` };
  }
  try {
    const parsed = StoredAgent.safeParse(JSON.parse(text));
    if (parsed.success) return { state: parsed.data };
    return { problem: `${statePath(workDir)} is not a valid agent file` };
  } catch {
    return { problem: `${statePath(workDir)} is not JSON` };
  }
}

export async function saveState(workDir: string, state: StoredAgent): Promise<void> {
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  const file = statePath(workDir);
  const tmp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600); // whatever the umask
  await rename(tmp, file);
}

export async function deleteState(workDir: string): Promise<void> {
  await rm(statePath(workDir), { force: true });
}

/**
 * Takes `<workDir>/agent.lock` for this process. Throws when another live agent holds it;
 * a lock left by a process that is gone is taken over.
 */
export async function acquireLock(workDir: string): Promise<() => Promise<void>> {
  await mkdir(workDir, { recursive: true, mode: 0o700 });
  const file = path.join(workDir, "agent.lock");
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
        throw new Error(`another agent (pid ${pid}) is using ${workDir}; give each agent its own --work-dir`);
      }
      await rm(file, { force: true });
    }
  }
  throw new Error(`cannot lock ${workDir}`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
