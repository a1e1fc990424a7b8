import * as v from "valibot";
import { EMBED_PATHS, ImageResponse, type TextRequest, TextResponse } from "../../common/embed-service";
import type { Config } from "../config";
import { sha256Hex } from "../lib/crypto";
import type { Store } from "./store";

/** Query embeddings are cached this long; a model change invalidates them through the key. */
export const QUERY_EMBEDDING_TTL_MS = 24 * 60 * 60 * 1000;

/** What makes two queries the same for the text encoder: NFC, case, surrounding and repeated spaces. */
export function normaliseQuery(text: string): string {
  return text.normalize("NFC").toLowerCase().replace(/\s+/g, " ").trim();
}

export class EmbeddingUnavailable extends Error {}

/** The detail of the worker's 422 problem, when it sends one. */
const RefusalDetail = v.fallback(v.object({ detail: v.optional(v.string()) }), {});

const serviceUrl = (base: string, path: string) => `${base.replace(/\/+$/, "")}${path}`;

export type EmbedDeps = {
  config: Pick<Config, "EMBED_SERVICE_URL" | "WORKER_SHARED_SECRET" | "CLIP_MODEL_ID">;
  store: Pick<Store, "get" | "set">;
  fetch?: typeof fetch;
};

/**
 * The CLIP text embedding of a search query, from the GPU worker's embedding service, cached in
 * the store (Upstash in production) under the normalised query and the model id. Throws
 * EmbeddingUnavailable when no service is configured, it is down, slow (`timeoutMs`) or answers
 * with another model than CLIP_MODEL_ID; search then falls back to keywords.
 */
export async function embedQuery(deps: EmbedDeps, query: string, timeoutMs = 150): Promise<{ embedding: number[]; model: string; cached: boolean }> {
  const { EMBED_SERVICE_URL, WORKER_SHARED_SECRET, CLIP_MODEL_ID } = deps.config;
  if (!EMBED_SERVICE_URL || !WORKER_SHARED_SECRET) throw new EmbeddingUnavailable("no embedding service is configured");
  const normalised = normaliseQuery(query);
  const key = `qe:${CLIP_MODEL_ID}:${await sha256Hex(normalised)}`;
  const hit = await deps.store.get(key).catch(() => null);
  if (hit) return { embedding: JSON.parse(hit) as number[], model: CLIP_MODEL_ID, cached: true };
  let response: Response;
  try {
    response = await (deps.fetch ?? fetch)(serviceUrl(EMBED_SERVICE_URL, EMBED_PATHS.text), {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${WORKER_SHARED_SECRET}` },
      body: JSON.stringify({ texts: [normalised] } satisfies TextRequest),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new EmbeddingUnavailable(`the embedding service did not answer: ${(error as Error).message}`);
  }
  if (!response.ok) throw new EmbeddingUnavailable(`the embedding service answered ${response.status}`);
  const body = v.safeParse(TextResponse, await response.json().catch(() => null));
  if (!body.success || !body.output.embeddings[0]) throw new EmbeddingUnavailable("the embedding service sent an unexpected body");
  if (CLIP_MODEL_ID && body.output.model !== CLIP_MODEL_ID) {
    throw new EmbeddingUnavailable(`the embedding service runs ${body.output.model}, not ${CLIP_MODEL_ID}`);
  }
  const embedding = body.output.embeddings[0];
  await deps.store.set(key, JSON.stringify(embedding), QUERY_EMBEDDING_TTL_MS).catch(() => undefined);
  return { embedding, model: body.output.model, cached: false };
}

/**
 * The CLIP image embedding of an uploaded image (search by image), from the worker's /embed/image.
 * Not cached (images are not stored) and given more time than a text query: the worker decodes it.
 */
export async function embedImageQuery(deps: Omit<EmbedDeps, "store">, bytes: ArrayBuffer, contentType: string, timeoutMs = 3000): Promise<number[]> {
  const { EMBED_SERVICE_URL, WORKER_SHARED_SECRET } = deps.config;
  if (!EMBED_SERVICE_URL || !WORKER_SHARED_SECRET) throw new EmbeddingUnavailable("no embedding service is configured");
  let response: Response;
  try {
    response = await (deps.fetch ?? fetch)(serviceUrl(EMBED_SERVICE_URL, EMBED_PATHS.image), {
      method: "POST",
      headers: { "content-type": contentType, authorization: `Bearer ${WORKER_SHARED_SECRET}` },
      body: bytes,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new EmbeddingUnavailable(`the embedding service did not answer: ${(error as Error).message}`);
  }
  // The worker refuses what it cannot decode with a 422: that is the caller's image, not an outage.
  if (response.status === 422) throw new EmbeddingRefused(v.parse(RefusalDetail, await response.json().catch(() => ({}))).detail ?? "the image could not be read");
  if (!response.ok) throw new EmbeddingUnavailable(`the embedding service answered ${response.status}`);
  const body = v.safeParse(ImageResponse, await response.json().catch(() => null));
  if (!body.success) throw new EmbeddingUnavailable("the embedding service sent an unexpected body");
  return body.output.embedding;
}

/** The embedding service could not read the image it was given. */
export class EmbeddingRefused extends Error {}
