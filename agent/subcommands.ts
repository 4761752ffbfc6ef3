/**
 * `yardmaster-agent <subcommand>`, run inside a step (docs/agent.md): `pipeline upload` here,
 * `artifact upload|download` in ./artifact-subcommands.ts. It talks to the server for
 * the step's job with YM_URL, YM_JOB_TOKEN and YM_JOB_ATTEMPT_ID, through the agent's own client.
 * Exit codes: 0 done, 1 refused or failed (the server's message is printed), 2 usage.
 */
import { readFile } from "node:fs/promises";
import { AGENT_PROTOCOL_V2, AGENT_PROTOCOL_VERSION } from "../domain/protocol.ts";
import type { StepJob } from "./artifact-download.ts";
import { ARTIFACT_USAGE, runArtifactCommand } from "./artifact-subcommands.ts";
import { AgentApi } from "./protocol-client.ts";
import { HttpClient } from "./client.ts";
import { createLogger } from "./logger.ts";
import { agentVersion } from "./version.ts";

export const SUBCOMMANDS = ["pipeline", "artifact"] as const;

const USAGE = `Usage (inside a step of a Yardmaster job):
  yardmaster-agent pipeline upload [FILE|-]   add the jobs of a .act file (default: stdin) to this run
${ARTIFACT_USAGE}
They use YM_URL, YM_JOB_TOKEN and YM_JOB_ATTEMPT_ID, which every step has.
Exit codes: 0 done, 1 refused or failed, 2 usage.
`;

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdin: () => Promise<string>;
}

const processIo: Io = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
  stdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  },
};

export function isSubcommand(argv: readonly string[]): boolean {
  return (SUBCOMMANDS as readonly string[]).includes(argv[0] ?? "");
}

export async function runSubcommand(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: Io = processIo,
  options: { cwd?: string; progressMinBytes?: number } = {},
): Promise<number> {
  const usage = (message: string) => {
    io.stderr(`yardmaster-agent: ${message}\n\n${USAGE}`);
    return 2;
  };
  const [command, action, ...rest] = argv;
  if (action === "--help" || action === "-h" || rest.includes("--help")) {
    io.stdout(USAGE);
    return 0;
  }
  const known = command === "artifact" ? ["upload", "download"] : command === "pipeline" ? ["upload"] : [];
  if (!known.includes(action ?? "")) return usage(`unknown command '${[command, action].filter(Boolean).join(" ")}'`);
  if (command === "pipeline" && rest.length > 1) return usage("pipeline upload takes one file (or - for stdin)");
  const url = env.YM_URL;
  const token = env.YM_JOB_TOKEN;
  const attemptId = env.YM_JOB_ATTEMPT_ID;
  if (!url || !token || !attemptId) {
    return usage("YM_URL, YM_JOB_TOKEN and YM_JOB_ATTEMPT_ID are not set: run this inside a step of a Yardmaster job");
  }
  // Set by the job runner for every step (agent/step-shim.ts); anything else is the old protocol,
  // which every server speaks.
  const protocol = env.YM_AGENT_PROTOCOL === String(AGENT_PROTOCOL_V2) ? AGENT_PROTOCOL_V2 : AGENT_PROTOCOL_VERSION;
  if (command === "artifact") return artifactCommand(action, rest, { url, token, attemptId, protocol }, io, usage, options);
  const file = rest[0] ?? "-";
  let text: string;
  try {
    text = file === "-" ? await io.stdin() : await readFile(file, "utf8");
  } catch (err) {
    io.stderr(`yardmaster-agent: cannot read ${file === "-" ? "stdin" : file}: ${(err as Error).message}\n`);
    return 1;
  }
  const http = new HttpClient({ url, logger: createLogger({ level: "warn" }), userAgent: `yardmaster-agent/${agentVersion()}` });
  try {
    const answer = await new AgentApi(http).job(token, attemptId).uploadPipeline(text);
    const shown = file === "-" ? "stdin" : file;
    if (answer.ok) {
      const { added, unchanged } = answer.value;
      if (added.length > 0) io.stdout(`uploaded ${shown}: added ${added.length} job${added.length === 1 ? "" : "s"} to the run: ${added.join(", ")}\n`);
      else io.stdout(`uploaded ${shown}: its jobs are already in the run (${unchanged.join(", ")}); nothing changed\n`);
      return 0;
    }
    const problems = answer.problems ?? [];
    if (problems.length > 0) {
      io.stderr(`yardmaster-agent: ${shown} has ${problems.length} problem${problems.length === 1 ? "" : "s"}; no job was added:\n`);
      for (const p of problems) io.stderr(`  ${shown}:${p.line}:${p.column}: ${p.message}\n`);
    } else {
      io.stderr(`yardmaster-agent: pipeline upload refused (HTTP ${answer.status} ${answer.code}): ${answer.message}\n`);
    }
    return 1;
  } catch (err) {
    io.stderr(`yardmaster-agent: pipeline upload failed: ${(err as Error).message}\n`);
    return 1;
  } finally {
    http.close();
  }
}

/**
 * `artifact …`, with SIGTERM and SIGINT (a cancelled step) aborting what is under way, so a
 * download in progress removes its temporary file before the process ends.
 */
async function artifactCommand(
  action: string | undefined,
  args: readonly string[],
  job: { url: string; token: string; attemptId: string; protocol: StepJob["protocol"] },
  io: Io,
  usage: (message: string) => number,
  options: { cwd?: string; progressMinBytes?: number },
): Promise<number> {
  const http = new HttpClient({ url: job.url, logger: createLogger({ level: "warn" }), userAgent: `yardmaster-agent/${agentVersion()}` });
  const stop = new AbortController();
  const onSignal = () => stop.abort(new Error("stopped by a signal"));
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  try {
    const answer = await runArtifactCommand(action, args, { http, token: job.token, attemptId: job.attemptId, protocol: job.protocol }, io, {
      cwd: options.cwd ?? process.cwd(),
      signal: stop.signal,
      ...(options.progressMinBytes !== undefined ? { progressMinBytes: options.progressMinBytes } : {}),
    });
    return typeof answer === "number" ? answer : usage(answer.usage);
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    http.close();
  }
}
