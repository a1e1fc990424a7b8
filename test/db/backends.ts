import type { Database } from "../../db/connect";
import { openEmbeddedPostgres } from "../../db/local/pglite";
import { createScratchDatabase } from "../../db/local/scratch";

/** A database for one db suite: embedded PGlite, or a scratch database on the TEST_DATABASE_URL server. */
export type Backend = { db: Database; close(): Promise<void> };

/** PGlite always, and the PostgreSQL server when TEST_DATABASE_URL is set (each suite runs on both). */
export function dbBackends(scratchPrefix?: string): { name: string; open: () => Promise<Backend> }[] {
  const serverUrl = process.env.TEST_DATABASE_URL;
  return [
    {
      name: "PGlite",
      open: async () => {
        const { client, db } = await openEmbeddedPostgres();
        // The PGlite drizzle database answers execute() with { rows } as the Neon one does.
        return { db: db as unknown as Database, close: () => client.close() };
      },
    },
    ...(serverUrl
      ? [
          {
            name: "PostgreSQL server",
            open: async () => {
              const scratch = await createScratchDatabase(serverUrl, scratchPrefix);
              return { db: scratch.db, close: () => scratch.drop() };
            },
          },
        ]
      : []),
  ];
}
