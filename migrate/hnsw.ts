import { sql } from "drizzle-orm";
import type { Database } from "../db/connect";
import { embeddingIndexDefinition, embeddingIndexName, type SearchModel } from "../db/embedding-models";

/**
 * The embedding index for large runs: inserting millions of rows into an HNSW index costs more
 * than building it once over them, so `--defer-index` drops the index of the run's CLIP model (its
 * partial index over image_embeddings, db/embedding-models.ts) for the run, and the end of any
 * completed run builds it when it is missing (a killed run's index is built by the next one).
 */

export async function dropEmbeddingIndex(db: Database, model: Pick<SearchModel, "id">): Promise<void> {
  await db.execute(sql.raw(`drop index if exists "${embeddingIndexName(model.id)}"`));
}

export async function embeddingIndexExists(db: Database, model: Pick<SearchModel, "id">): Promise<boolean> {
  const result = await db.execute<{ found: string | null }>(sql`select to_regclass(${embeddingIndexName(model.id)})::text as found`);
  return (result.rows[0]?.found ?? null) !== null;
}

/** Builds the model's index if it is missing; returns how long that took in ms, or null when it was there. */
export async function ensureEmbeddingIndex(db: Database, model: Pick<SearchModel, "id" | "dimensions">): Promise<number | null> {
  if (await embeddingIndexExists(db, model)) return null;
  const started = performance.now();
  await db.execute(sql.raw(`create index if not exists ${embeddingIndexDefinition(model)}`));
  return performance.now() - started;
}
