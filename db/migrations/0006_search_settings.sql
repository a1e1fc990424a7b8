-- pgvector's search settings as this database's defaults, which every new connection starts with.
-- A nearest-neighbour search is then one statement, with no transaction around it to SET LOCAL
-- them: one round trip to Neon instead of four (BEGIN, the settings, the statement, COMMIT).
--   hnsw.ef_search = 100: the hybrid ranking fuses the top 100 of the vector ranking, so one pass
--     of the graph yields them; recall@20 0.98 on the benchmark corpus (scripts/bench/search).
--   hnsw.iterative_scan = relaxed_order: when a filter removes candidates, the scan keeps walking
--     the graph until the LIMIT is filled (bounded by hnsw.max_scan_tuples, default 20,000)
--     instead of returning fewer rows. Statements that need exact order re-sort the rows they get.
-- The values apply to connections opened after this migration: restart pooled connections (or
-- the Neon compute) after deploying it. The embedded PGlite applies them itself (db/local/pglite.ts).
-- Reading a vector first loads pgvector, which validates the two values.
DO $$
BEGIN
  PERFORM '[1]'::vector;
  EXECUTE format('ALTER DATABASE %I SET hnsw.ef_search = 100', current_database());
  EXECUTE format('ALTER DATABASE %I SET hnsw.iterative_scan = relaxed_order', current_database());
END
$$;
