/**
 * The layers (docs/architecture.md, "Layers"), as rules `npm test` enforces:
 *   domain/          pure: imports nothing of ours but domain/, no Node, no Cloudflare
 *   platform/        what the worker and the objects share: imports domain/ only
 *   durable-objects/ imports domain/ and platform/, never the worker
 *   worker/          imports domain/ and platform/, never the objects (but worker/index.ts,
 *                    which re-exports their classes for the runtime)
 *   agent/           imports domain/ only (it runs on users' machines)
 *   dashboard/       imports domain/ only (it runs in browsers)
 * Paths are relative to the folder cruised, so test/node/architecture runs the same rules over a
 * fixture tree that breaks each one.
 */
const ours = "^(domain|platform|durable-objects|worker|agent|dashboard)/";

/** A rule: files under `from` may import nothing of ours outside `allowed`. */
function layer(name, from, allowed, comment, extra = {}) {
  return {
    name,
    comment,
    severity: "error",
    from: { path: `^${from}/`, ...extra.from },
    to: { path: ours, pathNot: `^(${allowed.join("|")})/`, ...extra.to },
  };
}

module.exports = {
  forbidden: [
    layer("domain-is-pure", "domain", ["domain"], "domain/ is the shared core: it may import only itself"),
    {
      name: "domain-has-no-platform",
      comment: "domain/ runs in workerd, Node and browsers alike: no Node built-ins, no cloudflare: modules",
      severity: "error",
      from: { path: "^domain/" },
      to: { dependencyTypes: ["core"] },
    },
    layer("platform-below-worker-and-objects", "platform", ["platform", "domain"], "platform/ is shared by the worker and the objects: it may not import either", {
      from: { pathNot: "^platform/worker-configuration\\.d\\.ts$" },
    }),
    layer("objects-never-import-the-worker", "durable-objects", ["durable-objects", "platform", "domain"], "the objects and the worker meet only through platform/ and domain/"),
    layer("worker-never-imports-the-objects", "worker", ["worker", "platform", "domain"], "the worker reaches the objects through their stubs (platform/stubs.ts)", {
      from: { pathNot: "^worker/index\\.ts$" },
    }),
    layer("agent-imports-domain-only", "agent", ["agent", "domain"], "the agent runs on users' machines: only domain/ is shared with it"),
    layer("dashboard-imports-domain-only", "dashboard", ["dashboard", "domain"], "the dashboard runs in browsers: only domain/ is shared with it"),
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)node_modules/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".tsx", ".js", ".mjs", ".d.ts"] },
  },
};
