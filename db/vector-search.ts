import { sql } from "drizzle-orm";
import type { Database } from "./connect";
import { activeModel, embeddingIndexName } from "./embedding-models";

/**
 * pgvector's `hnsw.ef_search` chosen by the size of the catalogue. The HNSW graph finds the exact
 * nearest neighbours less often as it grows (the benchmark corpus, m 24, ef_construction 200,
 * ef_search 100: recall@20 0.998 at 100,000 images, 0.925 at 1,000,000), so a fixed value is right
 * for one size only. Measured with `scripts/bench/search/hnsw.ts` (docs/figures/search-hnsw-100k.md,
 * -1m.md), with and without a selective filter:
 * - up to 150,000: 200, every query at recall@20 1.0 unfiltered and 0.95 filtered at 100,000 images
 *   (at 100 one query got 0.60);
 * - up to 1,500,000: 400, mean 0.994 and 0.989 at 1,000,000, no query under 0.7 (200: 0.978 and 0.970,
 *   with 1 and 2 of 50 queries under 0.8);
 * - up to 2,000,000: 800, mean 0.963 and 0.962 at 2,000,000, 2 of 30 queries under 0.8 (400: 0.922 and
 *   0.918): the corpus keeps its 200 topics, so each is twice as dense and the graph needs twice the ef;
 * - beyond: 1,000, pgvector's limit: 0.982 at 2,000,000. Not measured further; by the curve the graph
 *   of migration 0011 falls under 0.95 at any ef_search before 5,000,000, which needs a denser graph.
 */
export const EF_SEARCH_STEPS: readonly { upToImages: number; efSearch: number }[] = [
  { upToImages: 150_000, efSearch: 200 },
  { upToImages: 1_500_000, efSearch: 400 },
  { upToImages: 2_000_000, efSearch: 800 },
  { upToImages: Number.POSITIVE_INFINITY, efSearch: 1000 },
];

/** The ef_search for a catalogue with this many embedded images. */
export function efSearchFor(embeddedImages: number): number {
  const step = EF_SEARCH_STEPS.find((s) => embeddedImages <= s.upToImages) ?? EF_SEARCH_STEPS[EF_SEARCH_STEPS.length - 1];
  return step?.efSearch ?? 1000;
}

/** The database's own default for a setting (`ALTER DATABASE ... SET`, what new connections start with), if it has one. */
export async function databaseDefault(db: Database, name: string): Promise<string | undefined> {
  const rows = await db.execute<{ value: string }>(sql`select substr(setting, strpos(setting, '=') + 1) as value
    from pg_db_role_setting s, unnest(s.setconfig) as setting
    where s.setdatabase = (select oid from pg_database where datname = current_database()) and s.setrole = 0
      and split_part(setting, '=', 1) = ${name}`);
  return rows.rows[0]?.value;
}

export type VectorSearchTuning = { embeddedImages: number; efSearch: number; changed: boolean };

/**
 * Sets the database's default `hnsw.ef_search` (as migration 0006 did, `ALTER DATABASE ... SET`, which
 * every new connection starts with) to {@link efSearchFor} the number of vectors in the active
 * model's index (db/embedding-models.ts), when it differs. The count is the planner's estimate
 * (pg_class.reltuples of the index, kept by autovacuum and ANALYZE), so a catalogue of millions costs
 * no scan; an index never analysed counts exactly. Run by the hourly maintenance and at the end of a
 * bulk import.
 */
export async function tuneVectorSearch(db: Database): Promise<VectorSearchTuning> {
  const model = await activeModel(db);
  let embeddedImages = 0;
  if (model) {
    const estimate = await db.execute<{ n: string | null }>(sql`select reltuples::bigint::text as n from pg_class where oid = to_regclass(${embeddingIndexName(model.id)})`);
    embeddedImages = Number(estimate.rows[0]?.n ?? -1);
    if (!(embeddedImages >= 0)) {
      const counted = await db.execute<{ n: string }>(sql`select count(*)::text as n from image_embeddings where model_id = ${model.id}`);
      embeddedImages = Number(counted.rows[0]?.n ?? 0);
    }
  }
  const efSearch = efSearchFor(embeddedImages);
  if ((await databaseDefault(db, "hnsw.ef_search")) === String(efSearch)) return { embeddedImages, efSearch, changed: false };
  // Reading a vector loads pgvector, which validates the value; the number is ours, an integer.
  await db.execute(sql.raw(`DO $$ BEGIN PERFORM '[1]'::vector; EXECUTE format('ALTER DATABASE %I SET hnsw.ef_search = ${Math.trunc(efSearch)}', current_database()); END $$`));
  return { embeddedImages, efSearch, changed: true };
}
