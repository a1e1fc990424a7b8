import { PGlite } from "@electric-sql/pglite";
import { pg_trgm } from "@electric-sql/pglite/contrib/pg_trgm";
import { vector } from "@electric-sql/pglite-pgvector";
import { drizzle } from "drizzle-orm/pglite";
import { migrate } from "drizzle-orm/pglite/migrator";
import { MIGRATIONS_FOLDER } from "../migrations-folder";
import * as schema from "../schema";

/**
 * Opens the embedded Postgres (PGlite: PostgreSQL compiled to WebAssembly) with the extensions
 * Edgestock needs, and applies every committed migration. `dataDir` undefined = in memory.
 */
export async function openEmbeddedPostgres(dataDir?: string) {
  const client = await PGlite.create({ dataDir, extensions: { vector, pg_trgm } });
  const db = drizzle({ client, schema });
  await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
  return { client, db };
}
