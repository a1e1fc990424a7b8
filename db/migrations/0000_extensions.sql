-- Custom SQL migration file, put your code below! --
-- drizzle-kit never emits CREATE EXTENSION: pgvector for image embeddings, pg_trgm for fuzzy tag search.
CREATE EXTENSION IF NOT EXISTS vector;--> statement-breakpoint
CREATE EXTENSION IF NOT EXISTS pg_trgm;
