/**
 * The layers of docs/architecture.md hold: `.dependency-cruiser.cjs` finds no forbidden import in
 * the tree, and finds each one that test/fixtures/layers breaks on purpose (so a rule that stopped
 * matching would fail here rather than pass in silence).
 */
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { cruise } from "dependency-cruiser";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const LAYERS = ["domain", "platform", "durable-objects", "worker", "agent", "dashboard"];
const config = createRequire(import.meta.url)(path.join(ROOT, ".dependency-cruiser.cjs"));

async function violations(baseDir: string) {
  const result = await cruise(
    LAYERS,
    { ...config.options, baseDir, ruleSet: { forbidden: config.forbidden }, validate: true },
    undefined,
    { tsConfig: { fileName: path.join(baseDir, "tsconfig.json") } },
  );
  if (typeof result.output === "string") throw new Error(result.output);
  const { violations, totalCruised } = result.output.summary;
  return { cruised: totalCruised, broken: violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort() };
}

describe("layers", () => {
  it("the tree breaks no layer rule", async () => {
    const { cruised, broken } = await violations(ROOT);
    expect(cruised).toBeGreaterThan(200); // the whole tree was read, not an empty match
    expect(broken).toEqual([]);
  });

  it("each rule catches the import that breaks it", async () => {
    expect((await violations(path.join(ROOT, "test/fixtures/layers"))).broken).toEqual([
      "agent-imports-domain-only: agent/loop.ts → platform/stubs.ts",
      "dashboard-imports-domain-only: dashboard/page.ts → durable-objects/run-object.ts",
      "domain-has-no-platform: domain/pure.ts → fs",
      "domain-is-pure: domain/pure.ts → worker/app.ts",
      "objects-never-import-the-worker: durable-objects/run-object.ts → worker/app.ts",
      "platform-below-worker-and-objects: platform/stubs.ts → worker/app.ts",
      "worker-never-imports-the-objects: worker/route.ts → durable-objects/run-object.ts",
    ]);
  });
});
