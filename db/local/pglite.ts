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
  await applyDatabaseSettings(client);
  return { client, db };
}

/**
 * A server starts every connection with the database's `ALTER DATABASE ... SET` values (migration
 * 0006 sets pgvector's search settings that way); PGlite's one session does not read them, and on
 * first start it predates the migration. This applies them to the session, as a server would.
 */
async function applyDatabaseSettings(client: PGlite) {
  await client.query(`select set_config(split_part(setting, '=', 1), substr(setting, strpos(setting, '=') + 1), false)
    from pg_db_role_setting s, unnest(s.setconfig) as setting
    where s.setdatabase = (select oid from pg_database where datname = current_database()) and s.setrole = 0`);
}
