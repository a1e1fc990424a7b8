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
  config: Pick<Config, "EMBED_SERVICE_URL" | "WORKER_SHARED_SECRET">;
  store: Pick<Store, "get" | "set">;
  fetch?: typeof fetch;
};

/** The model an embedding must come from: the catalogue's active one (db/embedding-models.ts). */
export type EmbeddingModelName = { model: string; version: string; dimensions: number };

/** The service answered with the model asked for, its version and width: anything else is another vector space. */
function checkModel(body: { model: string; version: string; dimensions: number }, wanted: EmbeddingModelName): void {
  if (body.model !== wanted.model || body.version !== wanted.version || body.dimensions !== wanted.dimensions) {
    throw new EmbeddingUnavailable(`the embedding service answered with ${body.model} (${body.version}), not ${wanted.model} (${wanted.version})`);
  }
}

/**
 * The CLIP text embedding of a search query by `model` (the one search reads), from the GPU
 * worker's embedding service, cached in the store (Upstash in production) under the model and the
 * normalised query. Throws EmbeddingUnavailable when no service is configured, it is down, slow
 * (`timeoutMs`) or cannot answer with that model; search then falls back to keywords.
 */
export async function embedQuery(deps: EmbedDeps, query: string, model: EmbeddingModelName, timeoutMs = 150): Promise<{ embedding: number[]; model: string; cached: boolean }> {
  const { EMBED_SERVICE_URL, WORKER_SHARED_SECRET } = deps.config;
  if (!EMBED_SERVICE_URL || !WORKER_SHARED_SECRET) throw new EmbeddingUnavailable("no embedding service is configured");
  const normalised = normaliseQuery(query);
  const key = `qe:${model.model}:${model.version}:${await sha256Hex(normalised)}`;
  const hit = await deps.store.get(key).catch(() => null);
  if (hit) {
    const embedding = JSON.parse(hit) as number[];
    if (embedding.length === model.dimensions) return { embedding, model: model.model, cached: true };
  }
  let response: Response;
  try {
    response = await (deps.fetch ?? fetch)(serviceUrl(EMBED_SERVICE_URL, EMBED_PATHS.text), {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${WORKER_SHARED_SECRET}` },
      body: JSON.stringify({ texts: [normalised], model: model.model } satisfies TextRequest),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new EmbeddingUnavailable(`the embedding service did not answer: ${(error as Error).message}`);
  }
  if (!response.ok) throw new EmbeddingUnavailable(`the embedding service answered ${response.status}`);
  const body = v.safeParse(TextResponse, await response.json().catch(() => null));
  if (!body.success || !body.output.embeddings[0]) throw new EmbeddingUnavailable("the embedding service sent an unexpected body");
  checkModel(body.output, model);
  const embedding = body.output.embeddings[0];
  await deps.store.set(key, JSON.stringify(embedding), QUERY_EMBEDDING_TTL_MS).catch(() => undefined);
  return { embedding, model: body.output.model, cached: false };
}

/**
 * The CLIP image embedding of an uploaded image (search by image) by `model`, from the worker's
 * /embed/image. Not cached (images are not stored) and given more time than a text query: the
 * worker decodes it.
 */
export async function embedImageQuery(deps: Omit<EmbedDeps, "store">, bytes: ArrayBuffer, contentType: string, model: EmbeddingModelName, timeoutMs = 3000): Promise<number[]> {
  const { EMBED_SERVICE_URL, WORKER_SHARED_SECRET } = deps.config;
  if (!EMBED_SERVICE_URL || !WORKER_SHARED_SECRET) throw new EmbeddingUnavailable("no embedding service is configured");
  let response: Response;
  try {
    response = await (deps.fetch ?? fetch)(`${serviceUrl(EMBED_SERVICE_URL, EMBED_PATHS.image)}?model=${encodeURIComponent(model.model)}`, {
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
  checkModel(body.output, model);
  return body.output.embedding;
}

/** The embedding service could not read the image it was given. */
export class EmbeddingRefused extends Error {}
