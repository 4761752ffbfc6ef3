#!/usr/bin/env node
// Builds the agent as it ships: one JavaScript file, agent/dist/yardmaster-agent.mjs, bundled
// by esbuild from agent/cli.ts and what it imports (zod, the shared domain code). Run from
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
const { version } = JSON.parse(readFileSync(resolve(root, "package.json"), "utf8"));

await build({
  entryPoints: [resolve(root, "agent/cli.ts")],
  outfile,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  // The version is baked in: the bundle has no package.json beside it (agent/version.ts).
  define: { YM_AGENT_VERSION: JSON.stringify(version) },
  banner: { js: "#!/usr/bin/env node" },
  logLevel: "warning",
});
process.stdout.write(`agent bundle: ${outfile}\n`);
