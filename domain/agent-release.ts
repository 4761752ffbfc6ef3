/**
 * The agent release this server is built with. One fact, read by three parts: the agent's build
 * bakes it in (`--version`, sent at registration), agent/package.json must carry the same
 * version (agent/build.mjs refuses to build otherwise), and the dashboard flags agents that
 * report an older one. Bump it when the agent changes in a way its users should pick up.
 */
export const AGENT_VERSION = "0.1.0";

/** `1.2.3`, `1.2.3-rc.1`: the numeric part, or undefined for a version that is not one. */
function numericParts(version: string): number[] | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/.exec(version.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/**
 * True when `version` is an agent release older than `current` (major, minor, patch compared
 * as numbers). A version that does not read as one (a build from source, a fork) is not called
 * old: the flag is a hint to upgrade, and a wrong one would be noise.
 */
export function isOlderAgentVersion(version: string, current: string = AGENT_VERSION): boolean {
  const a = numericParts(version);
  const b = numericParts(current);
  if (!a || !b) return false;
  for (let i = 0; i < 3; i += 1) if (a[i] !== b[i]) return a[i]! < b[i]!;
  // Same numbers: a pre-release (1.2.3-rc.1) comes before its release.
  return /^v?\d+\.\d+\.\d+-/.test(version.trim()) && !/^v?\d+\.\d+\.\d+-/.test(current.trim());
}
