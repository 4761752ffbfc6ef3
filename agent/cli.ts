/**
 * `yardmaster-agent` / `npm run agent -- …`: parses the settings, starts the agent, and turns
 * SIGINT/SIGTERM into its graceful (first), cancelling (second) and immediate (third) stops.
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Agent } from "./agent-loop.ts";
import { parseConfig } from "./config.ts";
import { hideCredentials, readTokenFile } from "./credentials.ts";
import { createLogger } from "./logger.ts";
import { resolveStepUser, type StepUser } from "./run-as.ts";
import { isSubcommand, runSubcommand } from "./subcommands.ts";
import { agentVersion } from "./version.ts";

export async function main(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  // `yardmaster-agent pipeline upload …` inside a step; no subcommand: the agent itself.
  if (isSubcommand(argv)) return runSubcommand(argv, env);
  const parsed = parseConfig(argv, env);
  if (parsed.kind === "help") {
    process.stdout.write(parsed.text);
    return 0;
  }
  if (parsed.kind === "version") {
    process.stdout.write(`${agentVersion()}\n`);
    return 0;
  }
  if (parsed.kind === "error") return usageError(parsed.message);
  const config = parsed.config;
  const logger = createLogger({ level: config.logLevel });
  const warnings: string[] = [];
  if (config.tokenFile) {
    const read = readTokenFile(config.tokenFile);
    if (!read.ok) return usageError(read.message);
    config.token = read.token;
    if (read.warning) warnings.push(read.warning);
  } else if (config.token) {
    warnings.push("--token/YM_TOKEN put the registration token where others may see it (shell history, ps, /proc/<pid>/environ); prefer --token-file");
  }
  let user: StepUser | undefined;
  if (config.runAs) {
    const resolved = resolveStepUser(config.runAs);
    if (!resolved.ok) return usageError(resolved.message);
    user = resolved.user;
    if (resolved.warning) warnings.push(resolved.warning);
  }
  const stillVisible = hideCredentials(argv, config.token);
  if (stillVisible) warnings.push(stillVisible);
  const version = agentVersion();
  logger.info(
    `yardmaster-agent ${version} (node ${process.version}) → ${config.url}; work dir ${config.workDir}; state dir ${config.stateDir}; concurrency ${config.concurrency}${user ? `; steps run as ${user.name} (uid ${user.uid})` : ""}`,
  );
  for (const w of warnings) logger.warn(w);
  const agent = new Agent({ config, logger, version, ...(user ? { user } : {}) });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    agent.shutdown(signal);
    if (signals >= 3) {
      // The agent has SIGKILLed its steps; do not wait for anything else.
      setTimeout(() => process.exit(130), 200).unref();
    }
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // A safety net: a bug in one job must not take the agent (and the other jobs) down.
  process.on("unhandledRejection", (err) => logger.error(`unexpected error (the agent carries on): ${(err as Error)?.stack ?? err}`));
  try {
    return await agent.run();
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

function usageError(message: string): number {
  process.stderr.write(`yardmaster-agent: ${message}\n\nRun with --help for the options.\n`);
  return 2;
}

// Real paths: installed by npm, the bundle is started through a symbolic link (…/bin/yardmaster-agent).
const realPath = (p: string): string | undefined => {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
};
const invokedDirectly = process.argv[1] !== undefined && realPath(process.argv[1]) === realPath(fileURLToPath(import.meta.url));
if (invokedDirectly) {
  main(process.argv.slice(2), process.env).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`yardmaster-agent: ${(err as Error)?.stack ?? err}\n`);
      process.exitCode = 1;
    },
  );
}
