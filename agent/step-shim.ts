/**
 * `yardmaster-agent` inside a step: a tiny shell script in the job's tmp dir, put first on the
 * step's PATH, that runs this very agent — the bundle when the agent runs from it, else
 * agent/cli.ts with Node's type stripping (`npm run agent`) — with the same Node. Steps thus
 * call the agent they run under, whatever is (or is not) installed on the machine, and the
 * subcommands find their job in YM_URL, YM_JOB_TOKEN and YM_JOB_ATTEMPT_ID, and the protocol
 * the job got in YM_AGENT_PROTOCOL.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { JobAssignment } from "../domain/protocol.ts";

/** The command a shim runs: this Node, its flags, the agent's entry file. */
export function agentEntry(moduleUrl: string = import.meta.url): { node: string; args: string[] } {
  const here = fileURLToPath(moduleUrl);
  if (here.endsWith(".ts")) {
    // From the repository: the sources, with type stripping (a flag Node 22 needs, 24 accepts).
    return { node: process.execPath, args: ["--experimental-strip-types", "--no-warnings", path.join(path.dirname(here), "cli.ts")] };
  }
  // Bundled: this module is part of the one bundle file, which is the agent's entry.
  return { node: process.execPath, args: [here] };
}

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * Writes `<tmpDir>/bin/yardmaster-agent` and answers its dir. Readable and executable by all:
 * under `--run-as` the step's user runs it (the tmp dir itself lets it pass, not list).
 */
export async function writeAgentShim(tmpDir: string): Promise<string> {
  const bin = path.join(tmpDir, "bin");
  await mkdir(bin, { recursive: true });
  await chmod(bin, 0o755);
  const { node, args } = agentEntry();
  const file = path.join(bin, "yardmaster-agent");
  await writeFile(file, `#!/bin/sh\nexec ${[node, ...args].map(quote).join(" ")} "$@"\n`, { mode: 0o755 });
  await chmod(file, 0o755);
  return bin;
}

/**
 * What a step's environment gains: the shim first on PATH, and the job's coordinates. The job
 * token authenticates the subcommands for this job only, and dies when the job ends. The protocol
 * the claim negotiated tells `artifact upload` whether the server takes the SHA-256 at a multipart
 * upload's end (protocol 2), so that it reads each file once, as the job's own `artifacts:` do.
 */
export function inStepEnv(binDir: string, serverUrl: string, assignment: JobAssignment, pathNow: string | undefined): Record<string, string> {
  return {
    PATH: pathNow ? `${binDir}${path.delimiter}${pathNow}` : binDir,
    YM_URL: serverUrl,
    YM_JOB_TOKEN: assignment.token,
    YM_JOB_ATTEMPT_ID: assignment.job.attemptId,
    YM_AGENT_PROTOCOL: String(assignment.protocol),
  };
}
