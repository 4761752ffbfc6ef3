/**
 * Keeping the registration token where the agent's jobs cannot look: read from `--token-file`
 * once at start, and gone from the agent's own command line (`process.title` overwrites the
 * argv block that /proc/<pid>/cmdline and `ps` show) and from `process.env` (which steps start
 * from). /proc/<pid>/environ keeps the block the process started with, whatever it deletes:
 * only `--token-file` keeps the token out of it (docs/security.md).
 */
import { readFileSync, statSync } from "node:fs";

export type TokenFileResult = { ok: true; token: string; warning?: string } | { ok: false; message: string };

/** Tokens are one word; a file with more is likely the wrong file. */
const MAX_TOKEN_CHARS = 4096;

export function readTokenFile(file: string): TokenFileResult {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    return { ok: false, message: `--token-file: cannot read ${file}: ${(err as Error).message}` };
  }
  const token = text.trim();
  if (token === "") return { ok: false, message: `--token-file: ${file} is empty; put the registration token in it` };
  if (token.length > MAX_TOKEN_CHARS || /\s/.test(token)) {
    return { ok: false, message: `--token-file: ${file} holds more than one word; it should hold the registration token alone` };
  }
  const mode = statSync(file).mode & 0o777;
  return {
    ok: true,
    token,
    ...(mode & 0o077 ? { warning: `--token-file: ${file} is readable by other users (mode ${mode.toString(8)}); chmod 600 it` } : {}),
  };
}

/** The command line shown once started: the arguments without `--token`'s value. */
export function safeTitle(argv: readonly string[]): string {
  const shown: string[] = ["yardmaster-agent"];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--token") i += 1;
    else if (!arg.startsWith("--token=")) shown.push(arg);
  }
  return shown.join(" ");
}

/**
 * Scrubs the process: a title without the token, no YM_TOKEN in `process.env`. Returns a
 * warning when the token is still in /proc/self/cmdline (a platform where the title does not
 * overwrite argv).
 */
export function hideCredentials(argv: readonly string[], token: string | undefined): string | undefined {
  process.title = safeTitle(argv);
  delete process.env.YM_TOKEN;
  delete process.env.YM_TOKEN_FILE;
  if (process.platform !== "linux" || !token) return undefined;
  try {
    if (readFileSync("/proc/self/cmdline", "latin1").includes(token)) {
      return "the registration token is still visible in this process's command line; use --token-file";
    }
  } catch {
    // no /proc: nothing to check
  }
  return undefined;
}
