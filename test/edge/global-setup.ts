import type { TestProject } from "vitest/node";
import { createScratchDatabase } from "../../db/local/scratch";
import { startLocalDatabase } from "../../db/local/server";
import { generateJwtKeyPair } from "../support/dev-keys";

import "./provided";

/**
 * Edge tests run inside workerd against a real Postgres reached the production way (Neon
 * driver over WebSocket): a fresh in-memory PGlite, or a scratch database on the server in
 * TEST_DATABASE_URL when one is available.
 */
export default async function setup(project: TestProject) {
  const serverUrl = process.env.TEST_DATABASE_URL;
  const database = serverUrl ? await createScratchDatabase(serverUrl, "edgestock_edge") : await startLocalDatabase({});
  project.provide("edgeBindings", {
    ENVIRONMENT: "test",
    DATABASE_URL: database.url,
    DB_LOCAL_PROXY: database.proxy,
    ...generateJwtKeyPair(),
  });
  return async () => {
    if ("drop" in database) await database.drop();
    else await database.stop();
  };
}
