import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("migrations");
  return {
    test: {
      // vitest's default (cores − 1) runs one file at a time on a 2-core machine, yet most of a
      // workerd or end-to-end test's time is spent waiting on I/O, timers and other processes.
      maxWorkers: Math.max(2, availableParallelism()),
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.jsonc" },
              miniflare: { bindings: {
                  TEST_MIGRATIONS: migrations,
                  YM_ADMIN_TOKEN: "test-admin-token",
                  YM_ENCRYPTION_KEY: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
                  // Live streams drop a viewer that leaves its window unacknowledged this long.
                  YM_LIVE_STALL_SECONDS: "1",
                  // Late log chunks are taken this long after a job ends (default 60 s), then 410.
                  YM_LATE_LOG_GRACE_SECONDS: "3",
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
          // Real wrangler dev and real agent processes, each file its own control plane on a
          // free port with its own state: files run side by side (`--maxWorkers` in npm test),
          // since most of their time is spent waiting (a cut network, a restart, a lost agent).
          test: {
            name: "e2e",
            include: ["test/e2e/**/*.test.ts"],
            exclude: ["test/e2e/load.test.ts"],
            environment: "node",
            testTimeout: 120_000,
            hookTimeout: 120_000,
          },
        },
        {
          // The load test saturates the machine by design: it runs alone.
          test: {
            name: "load",
            include: ["test/e2e/load.test.ts"],
            environment: "node",
            testTimeout: 180_000,
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
