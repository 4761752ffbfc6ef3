/**
 * `yardmaster-agent` / `npm run agent -- …`: parses the settings, starts the agent, and turns
 * SIGINT/SIGTERM into its graceful (first), cancelling (second) and immediate (third) stops.
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Agent } from "./agent-loop.ts";
import { parseConfig } from "./config.ts";
import { createLogger } from "./logger.ts";
import { agentVersion } from "./version.ts";

export async function main(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  const parsed = parseConfig(argv, env);
  if (parsed.kind === "help") {
    process.stdout.write(parsed.text);
    return 0;
  }
  if (parsed.kind === "version") {
    process.stdout.write(`${agentVersion()}\n`);
    return 0;
  }
  if (parsed.kind === "error") {
    process.stderr.write(`yardmaster-agent: ${parsed.message}\n\nRun with --help for the options.\n`);
    return 2;
  }
  const config = parsed.config;
  const logger = createLogger({ level: config.logLevel });
  const version = agentVersion();
  logger.info(
    `yardmaster-agent ${version} (node ${process.version}) → ${config.url}; work dir ${config.workDir}; concurrency ${config.concurrency}`,
  );
  const agent = new Agent({ config, logger, version });
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
