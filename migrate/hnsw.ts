import { sql } from "drizzle-orm";
import type { Database } from "../db/connect";

/**
 * The embedding index for large runs: inserting millions of rows into an HNSW index costs more
 * than building it once over them, so `--defer-index` drops it for the run, and the end of any
 * completed run builds it when it is missing (a killed run's index is built by the next one).
 * The definition is exactly the one db/migrations leaves (0011_hnsw_m24.sql).
 */

export const EMBEDDING_INDEX = "images_embedding_hnsw_idx";

/** The index as db/migrations/0011_hnsw_m24.sql creates it (test/unit/migrate-hnsw.test.ts holds them equal). */
export const EMBEDDING_INDEX_DEFINITION = `"${EMBEDDING_INDEX}" on "images" using hnsw ("embedding" vector_cosine_ops) with (m = 24, ef_construction = 200)`;

export async function dropEmbeddingIndex(db: Database): Promise<void> {
  await db.execute(sql.raw(`drop index if exists "${EMBEDDING_INDEX}"`));
}

export async function embeddingIndexExists(db: Database): Promise<boolean> {
  const result = await db.execute<{ found: string | null }>(sql`select to_regclass(${EMBEDDING_INDEX})::text as found`);
  return (result.rows[0]?.found ?? null) !== null;
}

/** Builds the index if it is missing; returns how long that took in ms, or null when it was there. */
export async function ensureEmbeddingIndex(db: Database): Promise<number | null> {
  if (await embeddingIndexExists(db)) return null;
  const started = performance.now();
  await db.execute(sql.raw(`create index if not exists ${EMBEDDING_INDEX_DEFINITION}`));
  return performance.now() - started;
}
