#!/usr/bin/env node
// `yardmaster-agent` from the repository (the root package's bin): runs the agent's bundle
// (agent/dist, built by agent/build.mjs; Node ≥ 20) when it is there, else agent/cli.ts from
// source. Node ≥ 22.18 / 23.6 runs TypeScript by stripping types; an older Node 22 needs
// --experimental-strip-types, so re-run with it there. The published package
// (agent/package.json) has no such wrapper: its bin is the bundle itself.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const bundle = fileURLToPath(new URL("./dist/yardmaster-agent.mjs", import.meta.url));
const cli = fileURLToPath(new URL("./cli.ts", import.meta.url));
const [major] = process.versions.node.split(".").map(Number);

if (existsSync(bundle) && major >= 20) {
  const { main } = await import(bundle);
  process.exitCode = await main(process.argv.slice(2), process.env);
} else if (major < 22) {
  process.stderr.write(
    `yardmaster-agent from source needs Node 22.6 or later (this is ${process.version}); build the bundle (npm run build:agent) to run it on Node 20\n`,
  );
  process.exit(1);
} else if (process.features?.typescript) {
  const { main } = await import(cli);
  process.exitCode = await main(process.argv.slice(2), process.env);
} else {
  const child = spawn(process.execPath, ["--experimental-strip-types", "--no-warnings", cli, ...process.argv.slice(2)], {
    stdio: "inherit",
    // Its own process group, so that a Ctrl-C reaches it once (forwarded), not twice.
    detached: true,
  });
  // This process keeps the arguments too: show a title without them (the child scrubs its own).
  process.title = "yardmaster-agent";
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
