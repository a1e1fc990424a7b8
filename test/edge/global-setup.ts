import type { TestProject } from "vitest/node";
import { createScratchDatabase } from "../../db/local/scratch";
import { startLocalDatabase } from "../../db/local/server";
import { generateJwtKeyPair } from "../../scripts/lib/dev-keys";

import "./provided";

/**
 * Edge tests run inside workerd against a real Postgres reached the production way (Neon
 * driver over WebSocket): a fresh in-memory PGlite, or a scratch database on the server in
 * TEST_DATABASE_URL when one is available. A second, isolated database serves the one test file
 * that compares whole-database row counts (see `isolatedWorker` in support.ts): test files run in
 * parallel, so the shared database changes under it.
 */
export default async function setup(project: TestProject) {
  const serverUrl = process.env.TEST_DATABASE_URL;
  const open = (prefix: string) => (serverUrl ? createScratchDatabase(serverUrl, prefix) : startLocalDatabase({}));
  const [database, isolated] = await Promise.all([open("edgestock_edge"), open("edgestock_edge_isolated")]);
  project.provide("edgeBindings", {
    ENVIRONMENT: "test",
    DATABASE_URL: database.url,
    DB_LOCAL_PROXY: database.proxy,
    ISOLATED_DATABASE_URL: isolated.url,
    ISOLATED_DB_LOCAL_PROXY: isolated.proxy,
    ...generateJwtKeyPair(),
  });
  return async () => {
    for (const db of [database, isolated]) {
      if ("drop" in db) await db.drop();
      else await db.stop();
    }
  };
}
