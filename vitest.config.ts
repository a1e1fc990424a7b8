import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

/**
 * Four suites: unit (pure code, Node), db (embedded PGlite and, with TEST_DATABASE_URL, a real
 * server), edge (inside workerd with real local bindings and the Neon driver), and e2e (the
 * whole local stack started as a new user would, called over HTTP).
 */
export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", silent: "passed-only", include: ["test/unit/**/*.test.ts"], environment: "node" } },
      { test: { name: "db", silent: "passed-only", include: ["test/db/**/*.test.ts"], environment: "node", testTimeout: 60_000, hookTimeout: 120_000 } },
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: { bindings: inject("edgeBindings") },
          })),
        ],
        test: {
          name: "edge",
          silent: "passed-only",
          include: ["test/edge/**/*.test.ts"],
          globalSetup: ["test/edge/global-setup.ts"],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: "e2e",
          silent: "passed-only",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
