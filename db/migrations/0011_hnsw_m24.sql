-- The embedding index rebuilt with m = 24, ef_construction = 200 (was 16 and 64). On the benchmark corpus
-- (scripts/bench/search/hnsw.ts) the old graph missed small topics: at 100,000 images some queries got
-- recall@20 of 0 at ef_search 100 (and at 200 in one of two builds), and at 1,000,000 images even
-- ef_search 1000, pgvector's limit, gave a mean of 0.962-0.971 (0.947-0.964 with a filter) in two builds.
-- The new graph gives 0.987-0.994 (0.987-0.989 with a filter) at ef_search 400 (db/vector-search.ts picks
-- ef_search by size). It takes 2.5-3x as long to build (1M images on 2 cores: 217 s against 677 s on a
-- quiet machine, 395 s against 988 s beside the test suite) and the same disk.
-- On a large catalogue, build it beside the old one and swap before deploying, so search never runs
-- without an index; this migration then finds it built and does nothing:
--   CREATE INDEX CONCURRENTLY images_embedding_hnsw_new ON images USING hnsw (embedding vector_cosine_ops) WITH (m=24, ef_construction=200);
--   DROP INDEX CONCURRENTLY images_embedding_hnsw_idx;
--   ALTER INDEX images_embedding_hnsw_new RENAME TO images_embedding_hnsw_idx;
DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_indexes
    WHERE indexname = 'images_embedding_hnsw_idx' AND replace(indexdef, ' ', '') LIKE '%(m=''24'',ef_construction=''200'')%'
  ) THEN
    DROP INDEX IF EXISTS "images_embedding_hnsw_idx";
    CREATE INDEX "images_embedding_hnsw_idx" ON "images" USING hnsw ("embedding" vector_cosine_ops) WITH (m=24,ef_construction=200);
  END IF;
END
$$;
