import * as v from "valibot";

/**
 * The wire contract of the GPU worker's query-embedding service (gpu-worker/embed-server.ts serves
 * it, edge/adapters/embed-service.ts calls it): one home, so the two sides cannot drift apart.
 * Every request presents WORKER_SHARED_SECRET as a bearer token; errors are problem documents.
 */
export const EMBED_PATHS = { text: "/embed/text", image: "/embed/image", health: "/health" } as const;

/** Longest query text accepted (characters); CLIP reads 77 tokens anyway. */
export const MAX_TEXT_LENGTH = 500;
/** Most texts in one request. */
export const MAX_TEXTS = 64;
/** Largest image accepted by search by image (the edge route and the worker's /embed/image). */
export const MAX_QUERY_IMAGE_BYTES = 10 * 1024 * 1024;

/** `POST /embed/text`, application/json. */
export const TextRequest = v.strictObject({
  texts: v.pipe(
    v.array(v.pipe(v.string(), v.maxLength(MAX_TEXT_LENGTH, `each text is at most ${MAX_TEXT_LENGTH} characters`))),
    v.minLength(1),
    v.maxLength(MAX_TEXTS, `at most ${MAX_TEXTS} texts per request`),
  ),
  /** The CLIP model to embed with (the catalogue's active one); the worker's own when absent. */
  model: v.optional(v.pipe(v.string(), v.maxLength(200))),
});

const ModelFields = { model: v.string(), version: v.string(), dimensions: v.number() };

export const TextResponse = v.object({ ...ModelFields, embeddings: v.array(v.array(v.number())) });
/** `POST /embed/image` takes the image bytes with an image/* content type. */
export const ImageResponse = v.object({ ...ModelFields, embedding: v.array(v.number()) });
export const HealthResponse = v.object({ model: v.nullable(v.string()), version: v.nullable(v.string()) });

export type TextRequest = v.InferOutput<typeof TextRequest>;
export type TextResponse = v.InferOutput<typeof TextResponse>;
export type ImageResponse = v.InferOutput<typeof ImageResponse>;
export type HealthResponse = v.InferOutput<typeof HealthResponse>;
