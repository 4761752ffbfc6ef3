import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("migrations");
  return {
    test: {
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: { bindings: {
                  TEST_MIGRATIONS: migrations,
                  YM_ADMIN_TOKEN: "test-admin-token",
                  YM_ENCRYPTION_KEY: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                  // Live streams drop a viewer that leaves its window unacknowledged this long.
                  YM_LIVE_STALL_SECONDS: "1",
                }, },
            }),
          ],
          test: { name: "workers", include: ["test/workers/**/*.test.ts"], testTimeout: 30_000, setupFiles: ["test/workers/setup.ts"] },
        },
        { test: {
            name: "node",
            include: ["test/node/**/*.test.ts"],
            environment: "node",
            // Property tests and real processes share 2 cores with the workerd suite in CI.
            testTimeout: 30_000,
          } },
        {
          // Real wrangler dev and real agent processes: one file at a time on a 2-core machine.
          test: {
            name: "e2e",
            include: ["test/e2e/**/*.test.ts"],
            environment: "node",
            fileParallelism: false,
            testTimeout: 120_000,
            hookTimeout: 120_000,
          },
        },
        {
          // The dashboard in Debian's Chromium (playwright-core) against real wrangler dev and a
          // real agent: one file at a time, and the test files' steps in order.
          test: {
            name: "browser",
            include: ["test/browser/**/*.test.ts"],
            environment: "node",
            fileParallelism: false,
            testTimeout: 120_000,
            hookTimeout: 180_000,
          },
        },
      ],
    },
  };
});
