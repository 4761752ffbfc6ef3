/** The agent's version: the repository's package.json version. */
import { readFileSync } from "node:fs";

/** Baked into the bundle by agent/build.mjs; undefined when the agent runs from its sources. */
declare const YM_AGENT_VERSION: string | undefined;

export function agentVersion(): string {
  if (typeof YM_AGENT_VERSION === "string") return YM_AGENT_VERSION;
  try {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: unknown };
    return typeof pkg.version === "string" ? pkg.version : "0.0.0";
  } catch {
    return "0.0.0";
  }
}
