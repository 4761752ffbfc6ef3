#!/usr/bin/env node
// Builds the agent as it ships: one JavaScript file, agent/dist/yardmaster-agent.mjs, bundled
// by esbuild from agent/cli.ts and what it imports (zod, minimatch, the shared domain code), for
// Node 20 and later. It is the `yardmaster-agent` package's whole program: `npm pack` in agent/
// runs this first (prepack) and ships the file with no dependencies (docs/agent.md). Run from
// source the agent needs Node's type stripping, which loads a TypeScript compiler into every
// agent process (~35 MiB of its memory); the bundle does not. `yardmaster-agent` (agent/bin.mjs)
// runs the bundle when it exists and the sources otherwise; `npm run agent` always runs the
// sources.
//
//   node agent/build.mjs                 build agent/dist/yardmaster-agent.mjs
//   node agent/build.mjs --outfile F     build F instead
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const at = args.indexOf("--outfile");
const outfile = resolve(at >= 0 ? args[at + 1] : resolve(root, "agent/dist/yardmaster-agent.mjs"));

// The agent's version is written once, in domain/agent-release.ts (the server reads it too, to
// flag old agents); the package's version must say the same, or the tarball would lie.
const release = /export const AGENT_VERSION = "([^"]+)"/.exec(readFileSync(resolve(root, "domain/agent-release.ts"), "utf8"))?.[1];
const { version } = JSON.parse(readFileSync(resolve(root, "agent/package.json"), "utf8"));
if (!release || release !== version) {
  process.stderr.write(
    `agent/package.json has version ${version} but domain/agent-release.ts has AGENT_VERSION ${release}: set both to the same version\n`,
  );
  process.exit(1);
}

await build({
  entryPoints: [resolve(root, "agent/cli.ts")],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  // Node 20 is the oldest the package promises (engines); esbuild lowers newer syntax, and the
  // agent uses no Node API younger than 20 (its glob is its own: agent/glob.ts).
  target: "node20",
  banner: { js: "#!/usr/bin/env node" },
  logLevel: "warning",
});
process.stdout.write(`agent bundle: ${outfile}\n`);
