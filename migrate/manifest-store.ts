import { inArray, sql } from "drizzle-orm";
import type { Queryable } from "../db/connect";
import { migrationManifest } from "../db/schema";
import { ManifestError, type ManifestRow } from "./manifest";

/**
 * The manifest in the database (migration_manifest): streamed in, a chunk per statement, so its
 * size does not matter; each batch of files then looks up its own rows by path.
 */

const CHUNK_ROWS = 1000;

/** What a manifest row says about a file's listing. */
export type ListingHints = Omit<ManifestRow, "sourcePath" | "line">;

async function upsert(db: Queryable, rows: Map<string, ManifestRow>) {
  if (rows.size === 0) return;
  await db
    .insert(migrationManifest)
    .values(
      [...rows.values()].map((row) => ({
        sourcePath: row.sourcePath,
        title: row.title ?? null,
        description: row.description ?? null,
        keywords: row.keywords ?? null,
        editorial: row.editorial ?? null,
        category: row.category ?? null,
        credit: row.credit ?? null,
        creditLicense: row.creditLicense ?? null,
        creditSource: row.creditSource ?? null,
      })),
    )
    .onConflictDoUpdate({
      target: migrationManifest.sourcePath,
      set: {
        title: sql`excluded.title`,
        description: sql`excluded.description`,
        keywords: sql`excluded.keywords`,
        editorial: sql`excluded.editorial`,
        category: sql`excluded.category`,
        credit: sql`excluded.credit`,
        creditLicense: sql`excluded.credit_license`,
        creditSource: sql`excluded.credit_source`,
      },
    });
}

/**
 * Upserts every row (a later row for the same path wins, as it would in the file); returns how many
 * rows were read. A category the marketplace does not have is an error naming the line.
 */
export async function loadManifest(db: Queryable, file: string, rows: AsyncIterable<ManifestRow>, knownCategories: ReadonlySet<string>): Promise<number> {
  let count = 0;
  // Keyed by path: one statement may not update the same row twice.
  let chunk = new Map<string, ManifestRow>();
  for await (const row of rows) {
    count++;
    if (row.category && !knownCategories.has(row.category)) throw new ManifestError(`${file}:${row.line}: no category ${JSON.stringify(row.category)}`);
    chunk.delete(row.sourcePath);
    chunk.set(row.sourcePath, row);
    if (chunk.size >= CHUNK_ROWS) {
      await upsert(db, chunk);
      chunk = new Map();
    }
  }
  await upsert(db, chunk);
  return count;
}

/** The manifest rows of `paths`, by path. */
export async function manifestFor(db: Queryable, paths: string[]): Promise<Map<string, ListingHints>> {
  if (paths.length === 0) return new Map();
  const rows = await db.select().from(migrationManifest).where(inArray(migrationManifest.sourcePath, paths));
  return new Map(
    rows.map((row) => {
      const hints: ListingHints = {};
      if (row.title) hints.title = row.title;
      if (row.description) hints.description = row.description;
      if (row.keywords && row.keywords.length > 0) hints.keywords = row.keywords;
      if (row.editorial !== null) hints.editorial = row.editorial;
      if (row.category) hints.category = row.category;
      if (row.credit) hints.credit = row.credit;
      if (row.creditLicense) hints.creditLicense = row.creditLicense;
      if (row.creditSource) hints.creditSource = row.creditSource;
      return [row.sourcePath, hints];
    }),
  );
}
