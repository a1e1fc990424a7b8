import { sql } from "drizzle-orm";
import { check, customType, integer, jsonb, pgTable, primaryKey, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { tstz } from "./columns";
import { images } from "./images";

/**
 * The CLIP models whose embeddings the catalogue holds (db/embedding-models.ts). One is `active`:
 * search, similar images and search by image read its vectors. A model added by a worker with another
 * CLIP_MODEL is `building` while its vectors are computed for every listed image beside the active
 * one's; when it covers them all it becomes active in one statement and the old one `retired`, whose
 * vectors are deleted afterwards. Each model has its own partial HNSW index over
 * `embedding::vector(dimensions)` (`image_embeddings_<id>_hnsw`), so models of any width pgvector
 * indexes live in the same table.
 */
export const EMBEDDING_MODEL_STATES = ["active", "building", "retired"] as const;
export type EmbeddingModelState = (typeof EMBEDDING_MODEL_STATES)[number];

export const embeddingModels = pgTable(
  "embedding_models",
  {
    id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
    /** CLIP_MODEL's name (gpu-worker/ml/clip-models.ts), e.g. ViT-B-32__openai. */
    model: text("model").notNull(),
    /** The model's preprocessing version (gpu-worker/ml/clip.ts); a new version is a new row. */
    version: text("version").notNull(),
    dimensions: integer("dimensions").notNull(),
    state: text("state").$type<EmbeddingModelState>().notNull().default("building"),
    createdAt: tstz("created_at").notNull().defaultNow(),
    activatedAt: tstz("activated_at"),
    retiredAt: tstz("retired_at"),
  },
  (t) => [
    uniqueIndex("embedding_models_model_version_idx").on(t.model, t.version),
    // At most one model serves search.
    uniqueIndex("embedding_models_one_active_idx").on(t.state).where(sql`state = 'active'`),
    check("embedding_models_state_check", sql`${t.state} in ('active', 'building', 'retired')`),
    // pgvector's HNSW indexes vectors of up to 2,000 dimensions.
    check("embedding_models_dimensions_check", sql`${t.dimensions} between 1 and 2000`),
  ],
);

export type EmbeddingModel = typeof embeddingModels.$inferSelect;

/** pgvector's `vector` without a fixed dimension: each model's index casts to its own. */
export const anyVector = customType<{ data: number[]; driverData: string }>({
  dataType: () => "vector",
  toDriver: (value) => `[${value.join(",")}]`,
  fromDriver: (value) => JSON.parse(value) as number[],
});

/** AI labels waiting for their model's switch. */
export type StagedLabels = { tags: { tag: string; confidence: number }[]; categories: { slug: string; confidence: number }[] };

/** One image's embedding by one model. */
export const imageEmbeddings = pgTable(
  "image_embeddings",
  {
    modelId: integer("model_id")
      .notNull()
      .references(() => embeddingModels.id, { onDelete: "cascade" }),
    imageId: uuid("image_id")
      .notNull()
      .references(() => images.id, { onDelete: "cascade" }),
    embedding: anyVector("embedding").notNull(),
    /**
     * The AI tags and categories this model's tagger gave the image, computed with a switch's
     * re-embedding and applied (then cleared) once the model is active (gpu-worker/reembed.ts), so
     * the labels change with search, not before.
     */
    labels: jsonb("labels").$type<StagedLabels>(),
  },
  // Image first: an image's rows by any model (its deletion, the similar-images origin), and keyset
  // walks over one model's rows in image order (the re-embedding, the clean-up of a retired model).
  (t) => [primaryKey({ columns: [t.imageId, t.modelId] })],
);
