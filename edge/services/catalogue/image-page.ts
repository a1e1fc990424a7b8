import { and, eq, isNull, notInArray, or, type SQLWrapper, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import * as v from "valibot";
import { listedSql, NEAR_DUPLICATE_MAX_DISTANCE, safeForSearchSql } from "../../../common/images";
import type { Logger } from "../../../common/log";
import type { Database } from "../../../db/connect";
import { modelIs, type SearchModel, vectorDistance } from "../../../db/embedding-models";
import { categories, embeddingModels, imageCategories, imageEmbeddings, images, imageTags, licensePrices, licenseType, tagSource, users } from "../../../db/schema";
import type { PublicUrls } from "../../adapters/public-urls";
import { ApiError } from "../../lib/problem";
import * as s from "../../lib/schemas";
import { type Orientation, OrientationSchema, RenditionUrlsSchema } from "./schemas";

/** What buyers may see: listed images (common/images.ts). Anything else answers 404, so ids do not leak. */
const publiclyListed = listedSql();

/** Neighbours fetched per requested result, so collapsing near-identical ones still fills the page. */
const CANDIDATES_PER_RESULT = 2;

/** The technical metadata shown on an image page. */
const TechnicalSchema = v.object({
  camera: v.optional(v.string()),
  lens: v.optional(v.string()),
  iso: v.optional(v.number()),
  aperture: v.optional(v.number()),
  shutter: v.optional(v.string()),
  exposureSeconds: v.optional(v.number()),
  focalLength: v.optional(v.number()),
  focalLength35mm: v.optional(v.number()),
  capturedAt: v.optional(v.string()),
  format: v.optional(v.string()),
  colourSpace: v.optional(v.string()),
  iccProfile: v.optional(v.string()),
  bitDepth: v.optional(v.number()),
});
export type PublicTechnicalMetadata = v.InferOutput<typeof TechnicalSchema>;

/**
 * The fields the page may show, with their types. The worker stores metadata by allow-list already;
 * this second allow-list means a row written any other way (an import, an old worker, a hand edit)
 * still cannot put GPS, serial numbers or owner names in front of buyers.
 */
const TECHNICAL_FIELDS = {
  camera: "string",
  lens: "string",
  iso: "number",
  aperture: "number",
  shutter: "string",
  exposureSeconds: "number",
  focalLength: "number",
  focalLength35mm: "number",
  capturedAt: "string",
  format: "string",
  colourSpace: "string",
  iccProfile: "string",
  bitDepth: "number",
} as const satisfies Record<keyof PublicTechnicalMetadata, "string" | "number">;

const MAX_METADATA_TEXT = 200;

/**
 * Copies the allow-listed technical fields of an image's `metadata` column, each only when it has
 * the expected type (finite numbers, non-empty strings of at most 200 characters).
 *
 * @example publicTechnicalMetadata({ camera: "Canon EOS R5", GPSLatitude: 51.5 }) // { camera: "Canon EOS R5" }
 */
export function publicTechnicalMetadata(metadata: Record<string, unknown> | null): PublicTechnicalMetadata {
  const out: Record<string, string | number> = {};
  if (!metadata) return out;
  for (const [field, type] of Object.entries(TECHNICAL_FIELDS)) {
    const value = metadata[field];
    if (type === "number" && typeof value === "number" && Number.isFinite(value)) out[field] = value;
    if (type === "string" && typeof value === "string" && value.length > 0 && value.length <= MAX_METADATA_TEXT) out[field] = value;
  }
  return out;
}

/** `GET /v1/images/{id}`: everything a listed image's page shows. */
export const ImagePageSchema = v.object({
  id: s.uuid,
  title: v.string(),
  description: v.nullable(v.string()),
  contributor: v.object({ id: s.uuid, displayName: v.string() }),
  tags: v.array(v.object({ tag: v.string(), source: v.picklist(tagSource.enumValues) })),
  categories: v.array(v.object({ slug: v.string(), name: v.string() })),
  width: v.nullable(v.number()),
  height: v.nullable(v.number()),
  orientation: v.nullable(OrientationSchema),
  aspectRatio: v.nullable(v.number()),
  colours: v.array(v.object({ hex: v.string(), share: v.number(), bucket: v.string() })),
  technical: TechnicalSchema,
  editorial: v.boolean(),
  /** Attribution the image's own licence requires (imported third-party work); null for contributors' own photos. */
  credit: v.nullable(v.object({ author: v.string(), license: v.nullable(v.string()), source: v.nullable(v.string()) })),
  derivatives: RenditionUrlsSchema,
  prices: v.array(v.object({ licenseType: v.picklist(licenseType.enumValues), currency: v.string(), amountCents: v.number() })),
  publishedAt: v.nullable(v.string()),
});
export type ImagePage = v.InferOutput<typeof ImagePageSchema>;

// Human choices first (contributor, moderator), then the model's by confidence.
const humanFirst = (source: SQLWrapper) => sql`case ${source} when 'contributor' then 0 when 'moderator' then 1 else 2 end`;

const tagsOfImage = sql<ImagePage["tags"]>`coalesce((
  select json_agg(json_build_object('tag', ${imageTags.tag}, 'source', ${imageTags.source})
                  order by ${humanFirst(imageTags.source)}, ${imageTags.confidence} desc nulls last, ${imageTags.tag})
  from ${imageTags} where ${imageTags.imageId} = ${images.id}), '[]'::json)`;

const categoriesOfImage = sql<ImagePage["categories"]>`coalesce((
  select json_agg(json_build_object('slug', ${categories.slug}, 'name', ${categories.name})
                  order by ${humanFirst(imageCategories.source)}, ${imageCategories.confidence} desc nulls last, ${categories.sortOrder})
  from ${imageCategories} join ${categories} on ${categories.slug} = ${imageCategories.categorySlug}
  where ${imageCategories.imageId} = ${images.id}), '[]'::json)`;

/**
 * One active price per license type and currency: the image's own row over the marketplace default
 * (`image_id` null). Editorial images are sold under the editorial license only: the SQL form of
 * mayLicenseAs (services/commerce/license-types.ts), which commerce applies when it sells.
 */
const pricesOfImage = sql<ImagePage["prices"]>`coalesce((
  select json_agg(json_build_object('licenseType', p.license_type, 'currency', p.currency, 'amountCents', p.amount_cents)
                  order by p.license_type, p.currency)
  from (
    select distinct on (${licensePrices.licenseType}, ${licensePrices.currency})
           ${licensePrices.licenseType} as license_type, ${licensePrices.currency} as currency, ${licensePrices.amountCents} as amount_cents
    from ${licensePrices}
    where ${licensePrices.active}
      and (${licensePrices.imageId} = ${images.id} or ${licensePrices.imageId} is null)
      and (not ${images.editorial} or ${licensePrices.licenseType} = 'editorial')
    order by ${licensePrices.licenseType}, ${licensePrices.currency}, ${licensePrices.imageId} nulls last
  ) p), '[]'::json)`;

/**
 * Everything an image page shows, in one statement (tags, categories and prices are aggregated
 * in subqueries, so a page costs one round trip). 404 unless the image is approved and listed.
 */
export async function loadImagePage(db: Database, imageId: string, urls: PublicUrls): Promise<ImagePage> {
  const [row] = await db
    .select({
      id: images.id,
      title: images.title,
      description: images.description,
      contributorId: users.id,
      contributorName: users.displayName,
      width: images.width,
      height: images.height,
      orientation: images.orientation,
      aspectRatio: images.aspectRatio,
      palette: images.palette,
      metadata: images.metadata,
      editorial: images.editorial,
      credit: images.credit,
      creditLicense: images.creditLicense,
      creditSource: images.creditSource,
      derivativeKeys: images.derivativeKeys,
      publishedAt: images.publishedAt,
      tags: tagsOfImage,
      categories: categoriesOfImage,
      prices: pricesOfImage,
    })
    .from(images)
    .innerJoin(users, eq(users.id, images.contributorId))
    .where(and(eq(images.id, imageId), publiclyListed));
  if (!row) throw new ApiError("not-found", "no such image");
  return {
    id: row.id,
    title: row.title,
    description: row.description,
    contributor: { id: row.contributorId, displayName: row.contributorName },
    tags: row.tags,
    categories: row.categories,
    width: row.width,
    height: row.height,
    // The generated column only ever holds the three orientations (db/schema/images.ts).
    orientation: row.orientation as Orientation | null,
    aspectRatio: row.aspectRatio,
    colours: (row.palette ?? []).map(({ hex, share, bucket }) => ({ hex, share, bucket })),
    technical: publicTechnicalMetadata(row.metadata),
    editorial: row.editorial,
    credit: row.credit ? { author: row.credit, license: row.creditLicense, source: row.creditSource } : null,
    derivatives: urls.renditions(row.derivativeKeys),
    prices: row.prices,
    publishedAt: row.publishedAt?.toISOString() ?? null,
  };
}

/**
 * `GET /v1/images/{id}`: the page, counting a view. The count starts first and goes to
 * `background` (waitUntil), so it holds a connection before the response and never fails it;
 * without `background` (app.request() in a test) the request's pool still waits for it.
 */
export async function showImagePage(deps: { db: Database; urls: PublicUrls; log: Logger; background?: (work: Promise<void>) => void }, imageId: string): Promise<ImagePage> {
  const viewed = recordImageView(deps.db, imageId).catch((error: unknown) => {
    deps.log.error("view count not recorded", { imageId, error: String(error) });
  });
  deps.background?.(viewed);
  return loadImagePage(deps.db, imageId, deps.urls);
}

/**
 * Counts one view of a listed image (no-op for any other id). Start it when the request starts and
 * hand the promise to `waitUntil`: the request's pool waits for a query that holds a connection
 * before it closes, so the count is not lost and the response does not wait for it.
 */
export async function recordImageView(db: Database, imageId: string): Promise<void> {
  await db
    .update(images)
    .set({ viewCount: sql`${images.viewCount} + 1` })
    .where(and(eq(images.id, imageId), publiclyListed));
}

/** Bits that differ between two 64-bit perceptual hashes (stored as signed bigint). */
export function hammingDistance(a: bigint, b: bigint): number {
  let x = BigInt.asUintN(64, a ^ b);
  let bits = 0;
  while (x > 0n) {
    x &= x - 1n;
    bits++;
  }
  return bits;
}

/** What near-duplicate collapsing needs to know of an image. */
export type DuplicateKeys = {
  id: string;
  sha256: string | null;
  phash: bigint | null;
  /** The image it duplicates, when the pipeline found one: images sharing it are one picture. */
  duplicateOf: string | null;
};

/**
 * True when two images are one picture: one duplicates the other or both duplicate the same image,
 * they are the same file, or their perceptual hashes are within 6 bits.
 */
export function sameImage(a: DuplicateKeys, b: DuplicateKeys): boolean {
  if (a.id === b.duplicateOf || b.id === a.duplicateOf || (a.duplicateOf !== null && a.duplicateOf === b.duplicateOf)) return true;
  if (a.sha256 !== null && a.sha256 === b.sha256) return true;
  return a.phash !== null && b.phash !== null && hammingDistance(a.phash, b.phash) <= NEAR_DUPLICATE_MAX_DISTANCE;
}

/**
 * Keeps the first of every group of near-identical images in a ranked list, up to `limit`.
 *
 * @example collapseNearDuplicates([a, aCropped, b], 2) // [a, b]
 */
export function collapseNearDuplicates<T extends DuplicateKeys>(ranked: T[], limit: number): T[] {
  const kept: T[] = [];
  for (const candidate of ranked) {
    if (kept.length >= limit) break;
    if (!kept.some((k) => sameImage(k, candidate))) kept.push(candidate);
  }
  return kept;
}

/** `GET /v1/images/{id}/similar`. */
export const SimilarImagesSchema = v.object({
  imageId: s.uuid,
  results: v.array(
    v.object({
      id: s.uuid,
      title: v.string(),
      width: v.nullable(v.number()),
      height: v.nullable(v.number()),
      orientation: v.nullable(v.string()),
      editorial: v.boolean(),
      derivatives: RenditionUrlsSchema,
      /** Cosine similarity of the CLIP embeddings, 1 for the same direction. */
      similarity: v.number(),
    }),
  ),
  /** Features that could not be used for this answer; "semantic": the image has no embedding yet. */
  degraded: v.array(v.picklist(["semantic"])),
  /** Why the answer is degraded, for people; absent when it is not. */
  notice: v.optional(v.string()),
});
export type SimilarImages = v.InferOutput<typeof SimilarImagesSchema>;

export type SimilarOptions = { perPage: number; safe: boolean };

/**
 * Nearest neighbours of a listed image by CLIP embedding (cosine, on the HNSW index), without the
 * image itself, its duplicates and near-duplicates, and with near-identical results collapsed to
 * the best-ranked one. 404 unless the image is approved and listed; an image without an embedding
 * gets no results and `degraded: ["semantic"]`.
 */
export async function findSimilarImages(db: Database, imageId: string, options: SimilarOptions, urls: PublicUrls): Promise<SimilarImages> {
  // The model search reads (db/embedding-models.ts), found in the same round trip as the image: the
  // image's vector and its neighbours' are that model's.
  const [origin] = await db
    .select({
      id: images.id,
      sha256: images.sha256,
      phash: images.phash,
      duplicateOf: images.duplicateOf,
      modelId: embeddingModels.id,
      dimensions: embeddingModels.dimensions,
      hasEmbedding: sql<boolean>`exists (select 1 from image_embeddings oe where oe.image_id = ${images.id} and oe.model_id = ${embeddingModels.id})`,
    })
    .from(images)
    .leftJoin(embeddingModels, eq(embeddingModels.state, "active"))
    .where(and(eq(images.id, imageId), publiclyListed));
  if (!origin) throw new ApiError("not-found", "no such image");
  if (!origin.hasEmbedding || origin.modelId === null || origin.dimensions === null) {
    return { imageId, results: [], degraded: ["semantic"], notice: "this image has no embedding yet (it was not analysed by the CLIP model), so similar images cannot be found" };
  }
  const model = { id: origin.modelId, dimensions: origin.dimensions };
  const candidates = await nearestNeighbours(db, origin, model, options);
  const results = collapseNearDuplicates(candidates, options.perPage).map((c) => ({
    id: c.id,
    title: c.title,
    width: c.width,
    height: c.height,
    orientation: c.orientation,
    editorial: c.editorial,
    derivatives: urls.renditions(c.derivativeKeys),
    similarity: c.similarity,
  }));
  return { imageId, results, degraded: [] };
}

/**
 * The ranked candidates. `ORDER BY e.embedding::vector(D) <=> (select embedding ... where image_id = $1)`
 * over the model's rows is the form its partial HNSW index serves (db/embedding-models.ts; the
 * subquery is an init plan, a constant for the scan). The filters apply
 * after the index produces rows, so the scan is iterative (pgvector 0.8): it keeps walking the graph
 * until LIMIT rows pass them instead of stopping at ef_search candidates; both settings are local
 * to this transaction. EXPLAIN ANALYZE on 100,000 images (PostgreSQL 15, pgvector 0.8.0): an index
 * scan on the embedding index (then images_embedding_hnsw_idx), 96 rows in 5 ms; without the settings the same LIMIT 96 got 38.
 */
async function nearestNeighbours(db: Database, origin: DuplicateKeys, model: Pick<SearchModel, "id" | "dimensions">, { perPage, safe }: SimilarOptions) {
  const limit = perPage * CANDIDATES_PER_RESULT;
  const originEmbedding = sql`(select origin.embedding from image_embeddings as origin where origin.image_id = ${origin.id} and origin.model_id = ${model.id})`;
  const e = alias(imageEmbeddings, "e");
  const distance = vectorDistance(model, "e", originEmbedding);
  // The image, what it duplicates, its duplicates and the other duplicates of what it duplicates.
  const linked = origin.duplicateOf === null ? [origin.id] : [origin.id, origin.duplicateOf];
  const filters = [
    publiclyListed,
    notInArray(images.id, linked),
    or(isNull(images.duplicateOf), notInArray(images.duplicateOf, linked)),
    origin.sha256 === null ? undefined : sql`${images.sha256} is distinct from ${origin.sha256}`,
    origin.phash === null ? undefined : sql`(${images.phash} is null or bit_count((${images.phash} # ${origin.phash}::bigint)::bit(64)) > ${NEAR_DUPLICATE_MAX_DISTANCE})`,
    safe ? safeForSearchSql() : undefined,
  ];
  return db.transaction(async (tx) => {
    await tx.execute(sql`select set_config('hnsw.ef_search', ${String(Math.max(40, limit))}, true), set_config('hnsw.iterative_scan', 'strict_order', true)`);
    return (
      tx
        .select({
          id: images.id,
          title: images.title,
          width: images.width,
          height: images.height,
          orientation: images.orientation,
          editorial: images.editorial,
          derivativeKeys: images.derivativeKeys,
          sha256: images.sha256,
          phash: images.phash,
          duplicateOf: images.duplicateOf,
          similarity: sql<number>`1 - (${distance})`.mapWith(Number),
        })
        .from(e)
        .innerJoin(images, and(eq(images.id, e.imageId), modelIs(model, "e")))
        .where(and(...filters))
        // The distance alone: a second sort key would keep the index from serving the order.
        .orderBy(distance)
        .limit(limit)
    );
  });
}
