-- Embeddings per model (issue 22): any CLIP model of any width, switched without downtime. Each model
-- (embedding_models) keeps its vectors in image_embeddings with its own partial HNSW index over
-- embedding::vector(<its width>) (db/embedding-models.ts creates one when a worker registers a model);
-- search reads the active model's. The 512-wide vectors in images.embedding move here under the model
-- most of them were made with (every one of them was searched as that model's until now), with the
-- index migration 0011 had, before the column goes. On a large catalogue that is one copy of every
-- vector and one HNSW build in one transaction (the build alone about 11 minutes a million images on
-- two cores, docs/status.md). Run it before deploying the new edge: the old one keeps searching the old
-- column meanwhile, and only the closing DROP COLUMN locks `images`, briefly.
CREATE TABLE "embedding_models" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "embedding_models_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"model" text NOT NULL,
	"version" text NOT NULL,
	"dimensions" integer NOT NULL,
	"state" text DEFAULT 'building' NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"activated_at" timestamp (3) with time zone,
	"retired_at" timestamp (3) with time zone,
	CONSTRAINT "embedding_models_state_check" CHECK ("embedding_models"."state" in ('active', 'building', 'retired')),
	CONSTRAINT "embedding_models_dimensions_check" CHECK ("embedding_models"."dimensions" between 1 and 2000)
);
--> statement-breakpoint
CREATE TABLE "image_embeddings" (
	"model_id" integer NOT NULL,
	"image_id" uuid NOT NULL,
	"embedding" vector NOT NULL,
	"labels" jsonb,
	CONSTRAINT "image_embeddings_image_id_model_id_pk" PRIMARY KEY("image_id","model_id")
);
--> statement-breakpoint
ALTER TABLE "image_embeddings" ADD CONSTRAINT "image_embeddings_model_id_embedding_models_id_fk" FOREIGN KEY ("model_id") REFERENCES "public"."embedding_models"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "image_embeddings" ADD CONSTRAINT "image_embeddings_image_id_images_id_fk" FOREIGN KEY ("image_id") REFERENCES "public"."images"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "embedding_models_model_version_idx" ON "embedding_models" USING btree ("model","version");--> statement-breakpoint
CREATE UNIQUE INDEX "embedding_models_one_active_idx" ON "embedding_models" USING btree ("state") WHERE state = 'active';--> statement-breakpoint
-- The vectors live out of line (TOAST), so the table's own heap is small and PostgreSQL would build its
-- HNSW indexes with no parallel workers (it sizes them by the heap): let builds use what
-- max_parallel_maintenance_workers allows.
ALTER TABLE "image_embeddings" SET (parallel_workers = 8);--> statement-breakpoint
INSERT INTO "embedding_models" ("model", "version", "dimensions", "state", "activated_at")
SELECT coalesce("embedding_model", 'unknown'), coalesce("embedding_version", 'unknown'), 512, 'active', now()
FROM "images" WHERE "embedding" IS NOT NULL
GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1;--> statement-breakpoint
INSERT INTO "image_embeddings" ("model_id", "image_id", "embedding")
SELECT m."id", i."id", i."embedding" FROM "images" i CROSS JOIN "embedding_models" m WHERE m."state" = 'active' AND i."embedding" IS NOT NULL;--> statement-breakpoint
DO $$
DECLARE active_id integer;
BEGIN
  SELECT "id" INTO active_id FROM "embedding_models" WHERE "state" = 'active';
  IF active_id IS NOT NULL THEN
    EXECUTE format('CREATE INDEX %I ON "image_embeddings" USING hnsw (("embedding"::vector(512)) vector_cosine_ops) WITH (m = 24, ef_construction = 200) WHERE model_id = %s',
      'image_embeddings_' || active_id || '_hnsw', active_id);
  END IF;
END
$$;--> statement-breakpoint
DROP INDEX IF EXISTS "images_embedding_hnsw_idx";--> statement-breakpoint
ALTER TABLE "images" DROP COLUMN "embedding";--> statement-breakpoint
ALTER TABLE "images" DROP COLUMN "embedding_model";--> statement-breakpoint
ALTER TABLE "images" DROP COLUMN "embedding_version";