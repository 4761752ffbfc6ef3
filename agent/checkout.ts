/**
 * Checks out the run's repository into the job's work dir: `git clone`, then the run's commit
 * (fetched explicitly when the clone does not have it, e.g. a pull request's head) or else
 * its branch. git runs without a shell (no quoting issues with branch names), never prompts,
 * and its output goes to the job log.
 */
import type { StepUser } from "./run-as.ts";
import { startProcess, type ProcessResult } from "./step-process.ts";

export interface CheckoutSpec {
  repository: string;
  branch: string | null;
  commit: string | null;
  dir: string;
  env: Record<string, string>;
  killGraceMs: number;
  signal: AbortSignal;
  /** Writes a line of the agent's own to the job log. */
  note: (line: string) => void;
  onOutput: (chunk: Buffer) => boolean;
  waitForDrain: () => Promise<void>;
  /** Told the process group of every git command started. */
  onSpawn?: (pgid: number) => void;
  /** `--run-as`: git runs as this user, like the steps. */
  user?: StepUser;
}

export type CheckoutResult = { ok: true } | { ok: false; cancelled: boolean; message: string };

export async function checkout(spec: CheckoutSpec): Promise<CheckoutResult> {
  const env = { ...spec.env, GIT_TERMINAL_PROMPT: "0" };
  const git = async (args: string[], cwd: string): Promise<ProcessResult> => {
    spec.note(`$ git ${args.map(quoteForDisplay).join(" ")}`);
    const proc = startProcess({
      command: "git",
      args,
      cwd,
      env,
      killGraceMs: spec.killGraceMs,
      signal: spec.signal,
      onOutput: spec.onOutput,
      waitForDrain: spec.waitForDrain,
      ...(spec.user ? { user: spec.user } : {}),
    });
    if (proc.pid !== undefined) spec.onSpawn?.(proc.pid);
    return proc.done;
  };
  const failed = (what: string, r: ProcessResult): CheckoutResult => ({
    ok: false,
    cancelled: r.cancelled,
    message: r.spawnError
      ? `${what}: ${r.spawnError.message}`
      : `${what} failed (${r.exitCode !== null ? `exit code ${r.exitCode}` : `signal ${r.signal}`})`,
  });

  const cloneArgs = ["clone", "--no-progress"];
  if (!spec.commit && spec.branch) cloneArgs.push("--branch", spec.branch);
  cloneArgs.push("--", spec.repository, ".");
  let r = await git(cloneArgs, spec.dir);
  if (r.exitCode !== 0) return failed("git clone", r);

  if (spec.commit) {
    r = await git(["-c", "advice.detachedHead=false", "checkout", "--detach", spec.commit, "--"], spec.dir);
    if (r.exitCode !== 0 && !r.cancelled) {
      spec.note(`commit ${spec.commit} is not in the clone; fetching it`);
      r = await git(["fetch", "--no-progress", "origin", spec.commit], spec.dir);
      if (r.exitCode !== 0) return failed("git fetch", r);
      r = await git(["-c", "advice.detachedHead=false", "checkout", "--detach", spec.commit, "--"], spec.dir);
    }
    if (r.exitCode !== 0) return failed("git checkout", r);
  }
  return { ok: true };
}

function quoteForDisplay(arg: string): string {
  // Never show credentials that a clone URL may carry.
  const shown = arg.replace(/(\/\/)[^/@\s]+@/, "$1***@");
  return /^[\w@%+=:,./-]+$/.test(shown) ? shown : `'${shown.replace(/'/g, `'\\''`)}'`;
}
