/**
 * `npm run db:migrate`: applies the committed migrations to the database in DATABASE_URL (Neon in
 * production) through the same Neon driver the Worker uses. Safe to run again: applied migrations
 * are recorded in drizzle's journal table. DB_LOCAL_PROXY routes through the local proxy.
 */
import { migrate } from "drizzle-orm/neon-serverless/migrator";
import { connectDatabase } from "../db/connect";
import { MIGRATIONS_FOLDER } from "../db/migrations-folder";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("DATABASE_URL is not set");
  process.exit(2);
}
const { db, pool } = connectDatabase(url, { localProxy: process.env.DB_LOCAL_PROXY || undefined });
await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
await pool.end();
console.log("migrations applied");
