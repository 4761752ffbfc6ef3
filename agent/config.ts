/**
 * The agent's settings, from flags (node:util parseArgs) or, failing that, environment
 * variables. Pure: takes argv and env, returns the config, the help text, or an error.
 */
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { LABEL } from "../domain/protocol.ts";
import type { Level } from "./logger.ts";

export interface AgentConfig {
  url: string;
  /**
   * Registration token: needed for the first start (or when the server no longer knows the
   * agent token). From `--token`/YM_TOKEN here; `--token-file` is read by the CLI (tokenFile).
   */
  token: string | undefined;
  /** `--token-file`: where the CLI reads the registration token from, once, at start. */
  tokenFile?: string;
  /** Where the agent's identity (state.json, its agent token) lives: never under workDir. */
  stateDir: string;
  /** `--run-as`: the OS user steps run as (the agent itself must be root). */
  runAs?: string;
  labels: string[];
  name: string;
  workDir: string;
  concurrency: number;
  killGraceMs: number;
  logLevel: Level;
  /** `--once`: take one job, run it, exit (autoscalers, ephemeral machines). */
  once?: boolean;
}

export type ConfigResult =
  | { kind: "config"; config: AgentConfig }
  | { kind: "help"; text: string }
  | { kind: "version" }
  | { kind: "error"; message: string };

export const USAGE = `Usage: yardmaster-agent --url URL [--token-file PATH] [options]
       npm run agent -- --url URL --token-file PATH [options]
       yardmaster-agent pipeline upload [FILE|-]   (inside a step: see --help there)

Runs Yardmaster jobs on this machine: registers once, then claims jobs whose labels it
carries, runs their steps, streams their logs and uploads their artifacts.

Options (each also read from the environment variable shown):
  --url URL             Yardmaster server, e.g. https://ci.example.com           YM_URL
  --token-file PATH     file holding the registration token (POST               YM_TOKEN_FILE
                        /api/v1/agent-tokens), read once at start; needed on
                        the first start only: the agent token it yields is
                        kept in <state-dir>/state.json (mode 0600)
  --token TOKEN         the registration token itself (discouraged: it is on    YM_TOKEN
                        the command line or in the environment until the
                        agent starts; prefer --token-file)
  --state-dir DIR       the agent's identity, outside every job's reach          YM_STATE_DIR
                        (default: /var/lib/yardmaster-agent as root, else
                        $XDG_STATE_HOME/yardmaster-agent or
                        ~/.local/state/yardmaster-agent)
  --run-as USER         run steps as this OS user (the agent must be root)       YM_RUN_AS
  --labels a,b,c        labels this agent carries (default: none)                YM_LABELS
  --name NAME           agent name (default: the host name)                      YM_NAME
  --work-dir DIR        job work dirs                                            YM_WORK_DIR
                        (default: ~/.yardmaster-agent)
  --concurrency N       jobs run at the same time, 1–64 (default: 1)             YM_CONCURRENCY
  --kill-grace SECONDS  between SIGTERM and SIGKILL when a step is stopped       YM_KILL_GRACE
                        (default: 10)
  --log-level LEVEL     debug, info, warn or error (default: info)               YM_LOG_LEVEL
  --once                take one job, run it and exit: 0 once its result is      YM_ONCE=1
                        reported, 1 if it could not be run or reported
  -h, --help            this text
  -v, --version         the agent's version

Signals: the first SIGINT/SIGTERM stops claiming, lets running jobs finish and exits 0;
a second one cancels running jobs (their processes are stopped, they end KILLED) and exits 1.
Exit codes: 0 stopped, 1 cannot go on, 2 bad options, 3 revoked by an administrator.
`;

export function parseConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ConfigResult {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      allowPositionals: false,
      strict: true,
      options: {
        url: { type: "string" },
        token: { type: "string" },
        "token-file": { type: "string" },
        "state-dir": { type: "string" },
        "run-as": { type: "string" },
        labels: { type: "string" },
        name: { type: "string" },
        "work-dir": { type: "string" },
        concurrency: { type: "string" },
        "kill-grace": { type: "string" },
        "log-level": { type: "string" },
        once: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    }));
  } catch (err) {
    return { kind: "error", message: (err as Error).message };
  }
  if (values.help) return { kind: "help", text: USAGE };
  if (values.version) return { kind: "version" };

  const pick = (flag: string | undefined, name: string): string | undefined => {
    const v = flag ?? env[name];
    return v === undefined || v.trim() === "" ? undefined : v.trim();
  };

  const url = pick(values.url, "YM_URL");
  if (!url) return { kind: "error", message: "--url (or YM_URL) is required" };
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(url);
  } catch {
    return { kind: "error", message: `--url: "${url}" is not a URL` };
  }
  if (parsedUrl.protocol !== "http:" && parsedUrl.protocol !== "https:") {
    return { kind: "error", message: `--url: use an http:// or https:// URL, not ${parsedUrl.protocol}` };
  }

  const labelsText = pick(values.labels, "YM_LABELS") ?? "";
  const labels = [...new Set(labelsText.split(/[,\s]+/).filter(Boolean))];
  for (const label of labels) {
    const ok = LABEL.safeParse(label);
    if (!ok.success) return { kind: "error", message: `--labels: "${label}": ${ok.error.issues[0]?.message}` };
  }
  if (labels.length > 50) return { kind: "error", message: "--labels: at most 50 labels" };

  const name = pick(values.name, "YM_NAME") ?? os.hostname();
  if (name.length > 100) return { kind: "error", message: "--name: at most 100 characters" };

  const concurrencyText = pick(values.concurrency, "YM_CONCURRENCY") ?? "1";
  const concurrency = Number(concurrencyText);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    return { kind: "error", message: `--concurrency: "${concurrencyText}" is not a whole number from 1 to 64` };
  }

  const graceText = pick(values["kill-grace"], "YM_KILL_GRACE") ?? "10";
  const grace = Number(graceText);
  if (!Number.isFinite(grace) || grace < 0 || grace > 3600) {
    return { kind: "error", message: `--kill-grace: "${graceText}" is not a number of seconds (0–3600)` };
  }

  const level = (pick(values["log-level"], "YM_LOG_LEVEL") ?? "info") as Level;
  if (!["debug", "info", "warn", "error"].includes(level)) {
    return { kind: "error", message: `--log-level: "${level}" is not debug, info, warn or error` };
  }

  const workDir = path.resolve(pick(values["work-dir"], "YM_WORK_DIR") ?? path.join(os.homedir(), ".yardmaster-agent"));
  const stateDirText = pick(values["state-dir"], "YM_STATE_DIR");
  const stateDir = stateDirText ? path.resolve(stateDirText) : defaultStateDir(env);
  // Everything under the work dir is reachable by jobs (and cleaned at start): not the identity.
  if (stateDir === workDir || stateDir.startsWith(`${workDir}${path.sep}`)) {
    return { kind: "error", message: `--state-dir: ${stateDir} is inside the work dir ${workDir}; put it outside (jobs can read the work dir)` };
  }

  const token = pick(values.token, "YM_TOKEN");
  const tokenFileText = pick(values["token-file"], "YM_TOKEN_FILE");
  if (token && tokenFileText) {
    return { kind: "error", message: "give the registration token once: --token-file (or YM_TOKEN_FILE), or --token (or YM_TOKEN), not both" };
  }
  const runAs = pick(values["run-as"], "YM_RUN_AS");

  return {
    kind: "config",
    config: {
      url: parsedUrl.toString().replace(/\/+$/, ""),
      token,
      ...(tokenFileText ? { tokenFile: path.resolve(tokenFileText) } : {}),
      stateDir,
      ...(runAs ? { runAs } : {}),
      labels,
      name,
      workDir,
      concurrency,
      killGraceMs: Math.round(grace * 1000),
      logLevel: level,
      ...(values.once === true || ["1", "true", "yes"].includes((env.YM_ONCE ?? "").trim().toLowerCase()) ? { once: true } : {}),
    },
  };
}

/**
 * The default state dir: a system one for root (as a service), the XDG state dir otherwise.
 * Under `--run-as` the steps' user cannot enter it (0700, root's).
 */
export function defaultStateDir(env: Readonly<Record<string, string | undefined>>, uid = process.getuid?.() ?? -1): string {
  if (uid === 0) return "/var/lib/yardmaster-agent";
  const xdg = env.XDG_STATE_HOME?.trim();
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), ".local", "state");
  return path.join(base, "yardmaster-agent");
}

/** Variables of the agent's own that steps must not see (its tokens, and where one lies). */
export function isAgentSecretVar(name: string): boolean {
  return name === "YM_TOKEN" || name === "YM_TOKEN_FILE" || /^YM_.*TOKEN$/.test(name);
}

/** The environment steps start from: the agent's own, minus its tokens. */
export function stepBaseEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !isAgentSecretVar(k)) out[k] = v;
  return out;
}
