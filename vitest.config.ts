import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { writeLocalWranglerConfig } from "./scripts/lib/local-wrangler";
import "./test/edge/provided";

/**
 * Suites: unit (pure code, Node), db (embedded PGlite and, with TEST_DATABASE_URL, a real
 * server), edge (inside workerd with real local bindings and the Neon driver), and e2e (the
 * whole local stack started as a new user would, called over HTTP).
 */
export default defineConfig({
  test: {
    // Passing tests stay quiet; a failing test shows its logs.
    silent: "passed-only",
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"], environment: "node" } },
      // gpu-worker modules (sharp, onnxruntime) on real files; Node runs them the way Bun does.
      { test: { name: "worker", include: ["test/worker/**/*.test.ts"], environment: "node", testTimeout: 120_000, hookTimeout: 120_000 } },
      { test: { name: "checks", include: ["test/checks/**/*.test.ts"], environment: "node", testTimeout: 180_000 } },
      { test: { name: "db", include: ["test/db/**/*.test.ts"], environment: "node", testTimeout: 60_000, hookTimeout: 120_000 } },
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: writeLocalWranglerConfig() },
            miniflare: { bindings: inject("edgeBindings") },
          })),
        ],
        test: {
          name: "edge",
          include: ["test/edge/**/*.test.ts"],
          globalSetup: ["test/edge/global-setup.ts"],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
      {
        // The web app in headless Chromium against one running stack (test/web/global-setup.ts).
        test: {
          name: "web",
          include: ["test/web/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/web/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
