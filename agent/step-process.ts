/**
 * One child process in its own process group: spawned `detached` (so it leads a new group),
 * its stdout and stderr handed over chunk by chunk as they come (pausing when the log says its
 * buffer is full), a timeout, and cancellation. Stopping means the whole group: SIGTERM, then
 * SIGKILL once `killGraceMs` has passed and something in the group still runs.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import { commandAs, type StepUser } from "./run-as.ts";

export interface ProcessSpec {
  command: string;
  args: readonly string[];
  cwd: string;
  env: Record<string, string>;
  /** Kill the group after this long (null/undefined: never). */
  timeoutMs?: number | null;
  killGraceMs: number;
  /** Aborting it cancels the process (the whole group is stopped). */
  signal?: AbortSignal;
  /** Receives stdout and stderr bytes in arrival order; false means "pause until drained". */
  onOutput: (chunk: Buffer) => boolean;
  waitForDrain: () => Promise<void>;
  /** After the main process exits, how long to wait for its stdout/stderr to close. */
  closeWaitMs?: number;
  /** `--run-as`: start it as this user (the agent is root). */
  user?: StepUser;
}

export interface ProcessResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  cancelled: boolean;
  durationMs: number;
  /** The process could not be started (no such shell, no such working directory, …). */
  spawnError?: Error;
}

export interface RunningProcess {
  /** The process id, which is also the process group id (undefined when spawning failed). */
  pid: number | undefined;
  done: Promise<ProcessResult>;
}

/** setTimeout's limit (~24.8 days): a longer timeout is no timeout at all. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export function startProcess(spec: ProcessSpec): RunningProcess {
  const started = Date.now();
  let child;
  const { command, args, uid, gid } = spec.user
    ? commandAs(spec.user, spec.command, spec.args)
    : { command: spec.command, args: [...spec.args], uid: undefined, gid: undefined };
  try {
    child = spawn(command, args, {
      cwd: spec.cwd,
      env: spec.env,
      ...(uid !== undefined ? { uid } : {}),
      ...(gid !== undefined ? { gid } : {}),
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (err) {
    return { pid: undefined, done: Promise.resolve(failedToStart(err, started)) };
  }
  const pid = child.pid;

  const done = new Promise<ProcessResult>((resolve) => {
    let timedOut = false;
    let cancelled = false;
    let killing: Promise<void> | undefined;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let spawnError: Error | undefined;
    let openStreams = 2;
    let finished = false;
    let closeTimer: NodeJS.Timeout | undefined;

    const stop = () => {
      if (killing || pid === undefined) return;
      killing = killProcessGroup(pid, spec.killGraceMs);
    };
    const timer =
      spec.timeoutMs != null && spec.timeoutMs >= 0 && spec.timeoutMs <= MAX_TIMER_MS
        ? setTimeout(() => {
            if (exited) return;
            timedOut = true;
            stop();
          }, spec.timeoutMs)
        : undefined;
    const onAbort = () => {
      if (exited && !killing) return;
      cancelled = true;
      stop();
    };
    if (spec.signal?.aborted) onAbort();
    else spec.signal?.addEventListener("abort", onAbort, { once: true });

    const finish = async () => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      if (closeTimer) clearTimeout(closeTimer);
      spec.signal?.removeEventListener("abort", onAbort);
      if (killing) await killing;
      resolve({
        exitCode: exited?.code ?? null,
        signal: exited?.signal ?? null,
        timedOut,
        cancelled,
        durationMs: Date.now() - started,
        ...(spawnError ? { spawnError } : {}),
      });
    };
    const maybeFinish = () => {
      if (!exited) return;
      if (openStreams === 0) void finish();
      else if (!closeTimer) {
        // Something the step left running in the background still holds stdout/stderr. Do not
        // wait for it: its output keeps flowing into the log, and the job's end stops it.
        closeTimer = setTimeout(() => void finish(), spec.closeWaitMs ?? 200);
      }
    };

    const pump = (stream: Readable) => {
      stream.on("data", (chunk: Buffer) => {
        if (!spec.onOutput(chunk)) {
          stream.pause();
          void spec.waitForDrain().then(() => stream.resume());
        }
      });
      stream.on("close", () => {
        openStreams -= 1;
        maybeFinish();
      });
      stream.on("error", () => {});
    };
    pump(child.stdout!);
    pump(child.stderr!);

    child.on("error", (err) => {
      // ENOENT for the command or the cwd: there will be no "exit".
      spawnError = err;
      if (!exited) exited = { code: null, signal: null };
      openStreams = 0;
      void finish();
    });
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      maybeFinish();
    });
  });
  return { pid, done };
}

function failedToStart(err: unknown, started: number): ProcessResult {
  return {
    exitCode: null,
    signal: null,
    timedOut: false,
    cancelled: false,
    durationMs: Date.now() - started,
    spawnError: err instanceof Error ? err : new Error(String(err)),
  };
}

/**
 * Stops every process of the group: SIGTERM now, SIGKILL after `graceMs` if any is still
 * running. Resolves once the group is gone (or SIGKILL was sent).
 */
export async function killProcessGroup(pgid: number, graceMs: number): Promise<void> {
  if (!signalGroup(pgid, "SIGTERM")) return;
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - Date.now()))));
    if (!processGroupAlive(pgid)) return;
  }
  signalGroup(pgid, "SIGKILL");
}

/** Sends `signal` to the group; false when the group no longer exists (or is not ours). */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // ESRCH: gone; EPERM: the id was reused by someone else's group
  }
}

/**
 * Whether some process of the group still runs. On Linux, zombies do not count (in a container
 * whose init does not reap, orphans of a killed step stay zombies for ever).
 */
export function processGroupAlive(pgid: number): boolean {
  // The usual case — the step exited and was reaped, its group is empty — takes one syscall
  // rather than reading every /proc/<pid>/stat (milliseconds per job on a busy machine).
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
  }
  if (process.platform === "linux") {
    try {
      for (const entry of readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        let stat: string;
        try {
          stat = readFileSync(`/proc/${entry}/stat`, "latin1");
        } catch {
          continue;
        }
        // pid (comm) state ppid pgrp …; comm may contain spaces and parentheses.
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        if (Number(fields[2]) === pgid && fields[0] !== "Z" && fields[0] !== "X") return true;
      }
      return false;
    } catch {
      // no /proc: fall back to kill(0)
    }
  }
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Is this one process still running (zombies count as gone)? */
export function processAlive(pid: number): boolean {
  if (process.platform === "linux") {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
      const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
      return state !== "Z" && state !== "X";
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const NAMED_SHELLS: Record<string, string> = {
  bash: "bash --noprofile --norc -eo pipefail {0}",
  sh: "sh -e {0}",
  python: "python3 {0}",
  python3: "python3 {0}",
  node: "node {0}",
};

/**
 * The command that runs a script file: the default bash, a named shell (`bash`, `sh`,
 * `python`, `node`), or a command line where `{0}` is the script's path (GitHub style; the
 * path is appended when there is no `{0}`). Quotes group words; there is no other expansion.
 */
export function shellCommand(shell: string | null, scriptPath: string): { command: string; args: string[] } {
  const template = NAMED_SHELLS[(shell ?? "bash").trim()] ?? shell!;
  const words = splitWords(template);
  if (words.length === 0) return shellCommand(null, scriptPath);
  const hasPlaceholder = words.some((w) => w.includes("{0}"));
  const filled = words.map((w) => w.split("{0}").join(scriptPath));
  if (!hasPlaceholder) filled.push(scriptPath);
  return { command: filled[0]!, args: filled.slice(1) };
}

export function splitWords(line: string): string[] {
  const words: string[] = [];
  let current = "";
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = null;
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(current);
      current = "";
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}
