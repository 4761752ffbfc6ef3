/**
 * `yardmaster-agent artifact upload|download` inside a step (docs/agent.md "Artifacts from a
 * step"). Upload sends files at once, through the same upload as the job's `artifacts:`
 * (agent/artifacts.ts: one PUT, multipart when large; each file read once under protocol 2, which
 * the job runner passes in YM_AGENT_PROTOCOL) with the job's token, so the run and the
 * artifacts page list them while the job still runs. Download fetches this run's artifacts
 * (agent/artifact-download.ts). Exit codes as every subcommand: 0 done, 1 refused or failed, 2 usage.
 */
import path from "node:path";
import { MAX_ARTIFACT_BYTES } from "../domain/limits.ts";
import { AGENT_PROTOCOL_V2 } from "../domain/protocol.ts";
import { expandArtifacts, uploadArtifact } from "./artifacts.ts";
import {
  ArtifactCommandError,
  chooseArtifacts,
  destinationOf,
  downloadArtifact,
  listRunArtifacts,
  type StepJob,
} from "./artifact-download.ts";
import { AgentApi, ItemRefusedError, JobRejectedError } from "./protocol-client.ts";

export const ARTIFACT_USAGE = `  yardmaster-agent artifact upload GLOB…      upload matching files (relative to the current dir) now
  yardmaster-agent artifact download GLOB… [--job KEY] [--to DIR]
                                              fetch this run's artifacts (verified by SHA-256) into DIR (default .)
`;

export interface ArtifactIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export interface ArtifactCommandOptions {
  /** Where upload globs are relative to and downloads land by default (the step's current dir). */
  cwd: string;
  /** From this size on a download prints its progress. */
  progressMinBytes?: number;
  signal?: AbortSignal;
}

/** Runs `artifact <action> …`: answers the exit code, or a usage message (exit 2). */
export async function runArtifactCommand(
  action: string | undefined,
  args: readonly string[],
  job: StepJob,
  io: ArtifactIo,
  options: ArtifactCommandOptions,
): Promise<number | { usage: string }> {
  try {
    if (action === "upload") {
      if (args.length === 0 || args.some((a) => a.startsWith("--"))) return { usage: "artifact upload takes one or more globs (no options)" };
      return await upload(args, job, io, options);
    }
    if (action === "download") {
      const parsed = parseDownloadArgs(args);
      if ("usage" in parsed) return parsed;
      return await download(parsed, job, io, options);
    }
    return { usage: `unknown command 'artifact${action ? ` ${action}` : ""}'` };
  } catch (err) {
    if (err instanceof ArtifactCommandError || err instanceof JobRejectedError) {
      io.stderr(`yardmaster-agent: ${err.message}\n`);
      return 1;
    }
    if (options.signal?.aborted) {
      io.stderr(`yardmaster-agent: artifact ${action} stopped by a signal${action === "download" ? "; the file being fetched was not kept" : ""}\n`);
      return 1;
    }
    io.stderr(`yardmaster-agent: artifact ${action} failed: ${(err as Error).message}\n`);
    return 1;
  }
}

/**
 * Every glob must match and every file fit the limit before anything is sent: a command that
 * cannot do all it was asked does nothing, and says why.
 */
async function upload(globs: readonly string[], job: StepJob, io: ArtifactIo, options: ArtifactCommandOptions): Promise<number> {
  const { files, refused, warnings } = await expandArtifacts(globs, options.cwd);
  const tooLarge = files.filter((f) => f.size > MAX_ARTIFACT_BYTES);
  if (warnings.length > 0 || refused.length > 0 || tooLarge.length > 0 || files.length === 0) {
    for (const w of warnings) io.stderr(`yardmaster-agent: ${w}\n`);
    for (const f of tooLarge) io.stderr(`yardmaster-agent: ${f.name} is ${f.size} bytes, over the ${MAX_ARTIFACT_BYTES}-byte artifact limit\n`);
    if (files.length === 0 && warnings.length === 0) io.stderr(`yardmaster-agent: no files match ${globs.map((g) => `"${g}"`).join(" ")}\n`);
    io.stderr("yardmaster-agent: nothing was uploaded\n");
    return 1;
  }
  const api = new AgentApi(job.http).job(job.token, job.attemptId);
  const signal = options.signal ?? new AbortController().signal;
  let failed = 0;
  for (const file of files) {
    try {
      // Protocol 2's server takes the SHA-256 at a multipart upload's end: the file is read once.
      const { sha256 } = await uploadArtifact(file, { api, signal, maxBytes: MAX_ARTIFACT_BYTES, hashAsSent: job.protocol === AGENT_PROTOCOL_V2 });
      io.stdout(`uploaded ${file.name} (${file.size} bytes, sha256 ${sha256})\n`);
    } catch (err) {
      if (!(err instanceof ItemRefusedError) && typeof (err as NodeJS.ErrnoException).syscall !== "string") throw err;
      failed += 1;
      io.stderr(`yardmaster-agent: ${file.name} not uploaded: ${(err as Error).message}\n`);
    }
  }
  if (failed > 0) io.stderr(`yardmaster-agent: ${failed} of ${files.length} file${files.length === 1 ? "" : "s"} not uploaded\n`);
  return failed > 0 ? 1 : 0;
}

interface DownloadArgs {
  globs: string[];
  jobKey?: string;
  to?: string;
}

export function parseDownloadArgs(args: readonly string[]): DownloadArgs | { usage: string } {
  const globs: string[] = [];
  let jobKey: string | undefined;
  let to: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    if (flag === "--job" || flag === "--to") {
      const value = inline ?? args[++i];
      if (value === undefined || value === "") return { usage: `${flag} needs a value` };
      if (flag === "--job") jobKey = value;
      else to = value;
    } else if (arg.startsWith("--")) {
      return { usage: `unknown option ${flag}` };
    } else {
      globs.push(arg);
    }
  }
  if (globs.length === 0) return { usage: "artifact download takes one or more globs" };
  return { globs, ...(jobKey !== undefined ? { jobKey } : {}), ...(to !== undefined ? { to } : {}) };
}

async function download(args: DownloadArgs, job: StepJob, io: ArtifactIo, options: ArtifactCommandOptions): Promise<number> {
  const listed = await listRunArtifacts(job, args.jobKey, options.signal);
  const chosen = chooseArtifacts(listed, args.globs, args.jobKey);
  const base = path.resolve(options.cwd, args.to ?? ".");
  const targets = chosen.map((a) => ({ artifact: a, to: destinationOf(base, a.name) }));
  for (const { artifact, to } of targets) {
    const sha256 = await downloadArtifact(job, artifact, to, {
      note: (line) => io.stdout(`${line}\n`),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.progressMinBytes !== undefined ? { progressMinBytes: options.progressMinBytes } : {}),
    });
    io.stdout(`downloaded ${artifact.name} from job ${artifact.job} (${artifact.size} bytes, sha256 ${sha256}) to ${to}\n`);
  }
  return 0;
}
