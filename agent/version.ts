/** The agent's version: the release the server is built with too (domain/agent-release.ts). */
import { AGENT_VERSION } from "../domain/agent-release.ts";

export function agentVersion(): string {
  return AGENT_VERSION;
}
