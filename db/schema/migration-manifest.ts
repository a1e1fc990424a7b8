import { boolean, pgTable, text } from "drizzle-orm/pg-core";

/**
 * Listing text for a batch migration, streamed in from `--manifest` (CSV or JSONL) in chunks so a
 * manifest of millions of rows never sits in memory; each batch of files looks its rows up by path.
 */
export const migrationManifest = pgTable("migration_manifest", {
  /** Absolute, resolved path (manifest paths are relative to the migrated folder). */
  sourcePath: text("source_path").primaryKey(),
  title: text("title"),
  description: text("description"),
  keywords: text("keywords").array(),
  editorial: boolean("editorial"),
  category: text("category"),
  credit: text("credit"),
  creditLicense: text("credit_license"),
  creditSource: text("credit_source"),
});

export type MigrationManifestRow = typeof migrationManifest.$inferSelect;
