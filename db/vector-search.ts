import { sql } from "drizzle-orm";
import type { Database } from "./connect";

/**
 * pgvector's `hnsw.ef_search` chosen by the size of the catalogue. The HNSW graph finds the exact
 * nearest neighbours less often as it grows (the benchmark corpus at m 16, ef_construction 64:
 * recall@20 0.979 at 100,000 images and 0.656 at 1,000,000 with the same ef_search of 100), so a
 * fixed value is right for one size only. Each step is the lowest ef_search that met recall@20 of
 * 0.95 on average and 0.8 for every query, with and without a selective filter, in
 * `scripts/bench/search/hnsw.ts` at the largest measured size the step covers
 * (docs/figures/search-hnsw.md). pgvector accepts at most 1,000.
 */
export const EF_SEARCH_STEPS: readonly { upToImages: number; efSearch: number }[] = [
  { upToImages: 150_000, efSearch: 200 },
  { upToImages: 1_500_000, efSearch: 800 },
  { upToImages: Number.POSITIVE_INFINITY, efSearch: 1000 },
];

/** The ef_search for a catalogue with this many embedded images. */
export function efSearchFor(embeddedImages: number): number {
  const step = EF_SEARCH_STEPS.find((s) => embeddedImages <= s.upToImages) ?? EF_SEARCH_STEPS[EF_SEARCH_STEPS.length - 1];
  return step?.efSearch ?? 1000;
}

export type VectorSearchTuning = { embeddedImages: number; efSearch: number; changed: boolean };

/**
 * Sets the database's default `hnsw.ef_search` (as migration 0006 did, `ALTER DATABASE ... SET`, which
 * every new connection starts with) to {@link efSearchFor} the number of vectors in the embedding index,
 * when it differs. The count is the planner's estimate (pg_class.reltuples of the index, kept by
 * autovacuum and ANALYZE), so a catalogue of millions costs no scan; an index never analysed counts
 * exactly. Run by the hourly maintenance and at the end of a bulk import.
 */
export async function tuneVectorSearch(db: Database): Promise<VectorSearchTuning> {
  const estimate = await db.execute<{ n: string | null }>(sql`select reltuples::bigint::text as n from pg_class where oid = to_regclass('images_embedding_hnsw_idx')`);
  let embeddedImages = Number(estimate.rows[0]?.n ?? -1);
  if (!(embeddedImages >= 0)) {
    const counted = await db.execute<{ n: string }>(sql`select count(*)::text as n from images where embedding is not null`);
    embeddedImages = Number(counted.rows[0]?.n ?? 0);
  }
  const efSearch = efSearchFor(embeddedImages);
  const current = await db.execute<{ value: string | null }>(sql`select split_part(setting, '=', 2) as value
    from pg_db_role_setting s, unnest(s.setconfig) as setting
    where s.setdatabase = (select oid from pg_database where datname = current_database()) and s.setrole = 0
      and split_part(setting, '=', 1) = 'hnsw.ef_search'`);
  if (current.rows[0]?.value === String(efSearch)) return { embeddedImages, efSearch, changed: false };
  // Reading a vector loads pgvector, which validates the value; the number is ours, an integer.
  await db.execute(sql.raw(`DO $$ BEGIN PERFORM '[1]'::vector; EXECUTE format('ALTER DATABASE %I SET hnsw.ef_search = ${Math.trunc(efSearch)}', current_database()); END $$`));
  return { embeddedImages, efSearch, changed: true };
}
