import { sql } from "drizzle-orm";
import { bigint, boolean, check, index, integer, pgTable, text, uuid } from "drizzle-orm/pg-core";
import { timestamps } from "./columns";

/** Where a file is in a batch migration (`bun run migrate`), in order; `failed` carries the error. */
export const MIGRATION_STAGES = ["pending", "processed", "uploaded", "indexed", "failed"] as const;
export type MigrationStage = (typeof MIGRATION_STAGES)[number];

/**
 * The batch migration's checkpoint: one row per source file, keyed by its absolute path, so a run
 * killed at any point continues where it stopped. `indexed` is written in the transaction that
 * inserts the image row, so indexed means listed (or a duplicate of a listing).
 */
export const migrationFiles = pgTable(
  "migration_files",
  {
    /** Absolute, resolved path of the file on the machine that ran the migration. */
    sourcePath: text("source_path").primaryKey(),
    stage: text("stage").$type<MigrationStage>().notNull().default("pending"),
    /** Derived from the content (migrate/ids.ts); for a duplicate, the image it duplicates. */
    imageId: uuid("image_id"),
    sha256: text("sha256"),
    /** The same content was already listed under another path or by an earlier upload. */
    duplicate: boolean("duplicate").notNull().default(false),
    /** Why the file failed (the pipeline refused it, or it kept failing); null otherwise. */
    error: text("error"),
    /** Runs that finished this file (indexed or failed): 2 after one failure and a successful retry. */
    attempts: integer("attempts").notNull().default(0),
    bytes: bigint("bytes", { mode: "number" }),
    ...timestamps,
  },
  (t) => [
    index("migration_files_stage_path_idx").on(t.stage, t.sourcePath),
    check("migration_files_stage_check", sql`stage in ('pending', 'processed', 'uploaded', 'indexed', 'failed')`),
  ],
);

export type MigrationFile = typeof migrationFiles.$inferSelect;
