-- A RUM index on images.search_vector, where the server offers the rum extension (Neon does, rum 1.3;
-- Debian's postgresql-15-rum; the embedded PGlite does not). RUM keeps each lexeme's positions in the
-- index, so `ORDER BY search_vector <=> query LIMIT n` returns the best-ranked matches from the index
-- without ranking every matching row from the heap: the keyword leg of a hybrid search for a common
-- word no longer costs in proportion to its matches (edge/services/catalogue/search-sql.ts reads
-- `images_search_rum_idx` to choose). Without the extension nothing changes: the GIN index serves
-- matching and ts_rank ranks every match, as before.
-- On a large catalogue this build holds writes to `images` for minutes: build the index with
-- CREATE INDEX CONCURRENTLY (the same definition) before deploying, and this becomes a no-op.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'rum') THEN
    CREATE EXTENSION IF NOT EXISTS rum;
    CREATE INDEX IF NOT EXISTS images_search_rum_idx ON images USING rum (search_vector rum_tsvector_ops);
  END IF;
END
$$;
