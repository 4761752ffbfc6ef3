#!/usr/bin/env node
// Builds the dashboard (dashboard/src, TypeScript + Preact) into public/assets/ with esbuild:
//   app.js   the single-page app (ES module, minified)
//   app.css  every stylesheet the app imports
//   boot.js  a tiny classic script that applies the saved theme before the first paint
//
// Run by wrangler itself (`build` in wrangler.jsonc) before every `wrangler dev` and
// `wrangler deploy`, so `npm start`, the e2e/browser harness and a deploy from a clean clone
// always serve a fresh build; public/assets/ is not committed.
//
// A file is written only when its bytes change, and atomically (temp file + rename): every
// running `wrangler dev` reloads when its assets directory changes, and several engineers'
// servers (and several test servers) share this tree.
//
//   node dashboard/build.mjs            build once
//   node dashboard/build.mjs --watch    rebuild on every change (for working on the dashboard)
//   node dashboard/build.mjs --outdir D build into D instead (D gets index.html too)
//   node dashboard/build.mjs --dev      no minification, inline source maps
import { context, build } from "esbuild";
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

const outdir = resolve(root, option("--outdir") ?? "public/assets");
const dev = flag("--dev");

/** Writes only changed files, each atomically. */
function writeOutputs(files) {
  mkdirSync(outdir, { recursive: true });
  let changed = 0;
  for (const file of files) {
    const target = file.path;
    const bytes = Buffer.from(file.contents);
    if (existsSync(target) && Buffer.compare(readFileSync(target), bytes) === 0) continue;
    const temp = `${target}.${process.pid}.tmp`;
    writeFileSync(temp, bytes);
    renameSync(temp, target);
    changed++;
  }
  if (option("--outdir")) {
    // A standalone output folder also needs the page that loads the assets.
    const index = join(outdir, "..", "index.html");
    if (!existsSync(index)) copyFileSync(join(root, "public/index.html"), index);
  }
  return changed;
}

const shared = {
  bundle: true,
  write: false,
  minify: !dev,
  sourcemap: dev ? "inline" : false,
  target: ["chrome123", "firefox120", "safari17.5"],
  legalComments: "none",
  logLevel: "warning",
  absWorkingDir: root,
  define: { "process.env.NODE_ENV": dev ? '"development"' : '"production"' },
};

const options = [
  {
    ...shared,
    entryPoints: { app: "dashboard/src/main.tsx" },
    outdir,
    format: "esm",
    // What a page loads on demand (the editor, the charts) becomes its own chunk.
    splitting: true,
    chunkNames: "[name]-[hash]",
    jsx: "automatic",
    jsxImportSource: "preact",
    loader: { ".svg": "text" },
    metafile: true,
  },
  { ...shared, entryPoints: { boot: "dashboard/src/boot.ts" }, outdir, format: "iife" },
];

const report = (result, started) => {
  const changed = writeOutputs(result.outputFiles);
  const sizes = result.outputFiles.map((f) => `${f.path.slice(outdir.length + 1)} ${(f.contents.byteLength / 1024).toFixed(1)} KB`);
  console.log(`dashboard: ${sizes.join(", ")} (${changed} changed, ${Date.now() - started} ms)`);
};

if (flag("--watch")) {
  for (const o of options) {
    const ctx = await context({
      ...o,
      plugins: [
        {
          name: "write-changed",
          setup(b) {
            let started = Date.now();
            b.onStart(() => void (started = Date.now()));
            b.onEnd((result) => result.errors.length === 0 && report(result, started));
          },
        },
      ],
    });
    await ctx.watch();
  }
  console.log("dashboard: watching dashboard/src");
} else {
  const started = Date.now();
  const results = await Promise.all(options.map((o) => build(o)));
  for (const r of results) report(r, started);
}
