// The dashboard's built JavaScript and CSS stay small: under 200 KB gzipped for the first page
// (app.js, the chunks it imports statically, boot.js; what a page loads on demand with
// import() — the editor, the charts — is not counted), and no CDN — nothing in it loads from
// another origin.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../../..");
const out = mkdtempSync(join(tmpdir(), "ym-dashboard-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("the dashboard build", () => {
  it("stays under 200 KB of gzipped JavaScript", { timeout: 60_000 }, () => {
    execFileSync(process.execPath, [join(ROOT, "dashboard/build.mjs"), "--outdir", join(out, "assets")], { cwd: ROOT, stdio: "pipe" });
    // app.js and every chunk it imports statically (esbuild's shared chunks), transitively.
    const initial = new Set(["app.js", "boot.js"]);
    for (const file of initial) {
      const text = readFileSync(join(out, "assets", file), "utf8");
      for (const m of text.matchAll(/(?:import|from)\s*"\.\/([^"]+\.js)"/g)) initial.add(m[1]!);
    }
    const js = [...initial].map((f) => readFileSync(join(out, "assets", f)));
    expect(initial.size).toBeGreaterThan(2);
    expect([...initial].some((f) => /codemirror|TrendCharts/.test(f))).toBe(false);
    const gz = js.reduce((n, b) => n + gzipSync(b, { level: 9 }).byteLength, 0);
    console.log(`dashboard JS (${[...initial].join(", ")}): ${(js.reduce((n, b) => n + b.byteLength, 0) / 1024).toFixed(1)} KB, ${(gz / 1024).toFixed(1)} KB gzipped`);
    expect(gz).toBeLessThan(200 * 1024);
  });

  it("loads nothing from another origin", () => {
    const html = readFileSync(join(ROOT, "public/index.html"), "utf8");
    const css = readFileSync(join(out, "assets/app.css"), "utf8");
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(css).not.toMatch(/url\((["']?)(https?:)?\/\//);
    expect(css).not.toMatch(/@import\s+url/);
  });
});
