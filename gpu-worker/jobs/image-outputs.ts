import { and, eq, inArray } from "drizzle-orm";
import { DERIVATIVE_CACHE_CONTROL, derivativeKey, PRIVATE_RENDITION_CACHE_CONTROL, privateRenditionKey, type RenditionName } from "../../common/images";
import type { Database } from "../../db/connect";
import { categories, type DerivativeKeys, imageCategories, images, imageTags, tagTextFor } from "../../db/schema";
import type { Inference } from "../pipeline/inference";

/**
 * Where the pipeline's callers (the image jobs, and the importer's uploads) put what it made: the
 * renditions in the buckets, the AI tags and categories in their tables. One copy of the rules:
 * every rendition has a private copy; the public bucket gets one only while the image is listed.
 */

/** Where originals are read and derivatives written: R2's S3 API (common/s3.ts S3Client) in production and locally. */
export type ObjectStore = {
  getObject(bucket: string, key: string): Promise<Uint8Array | null>;
  putObject(bucket: string, key: string, body: Uint8Array, options: { contentType: string; cacheControl?: string }): Promise<unknown>;
  deleteObject(bucket: string, key: string): Promise<unknown>;
};

export type Buckets = { originalsBucket: string; derivativesBucket: string };

type Transaction = Parameters<Parameters<Database["transaction"]>[0]>[0];

/** A rendition as stored (pipeline/index.ts Rendition, or one sent back by an importer thread). */
export type StoredRendition = { name: RenditionName; body: Uint8Array; contentType: string };

/**
 * Waits for every write, then throws the first failure: no request may still be running when the
 * caller decides the image failed (and, say, retries it).
 */
export async function settleAll(writes: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(writes);
  const failure = results.find((r) => r.status === "rejected");
  if (failure) throw (failure as PromiseRejectedResult).reason;
}

/** Writes the private copies (originals bucket, renditions/ prefix); returns the public keys they stand for. */
export async function storePrivateRenditions(
  store: Pick<ObjectStore, "putObject">,
  buckets: Pick<Buckets, "originalsBucket">,
  imageId: string,
  renditions: readonly StoredRendition[],
): Promise<DerivativeKeys> {
  const keys: DerivativeKeys = {};
  await settleAll(
    renditions.map(async (rendition) => {
      const key = derivativeKey(imageId, rendition.name);
      await store.putObject(buckets.originalsBucket, privateRenditionKey(key), rendition.body, {
        contentType: rendition.contentType,
        cacheControl: PRIVATE_RENDITION_CACHE_CONTROL,
      });
      keys[rendition.name] = key;
    }),
  );
  return keys;
}

/** Writes the public copies (derivatives bucket): only for an image that is, or is about to be, listed. */
export async function publishRenditions(
  store: Pick<ObjectStore, "putObject">,
  buckets: Pick<Buckets, "derivativesBucket">,
  imageId: string,
  renditions: readonly StoredRendition[],
): Promise<void> {
  await settleAll(
    renditions.map((rendition) =>
      store.putObject(buckets.derivativesBucket, derivativeKey(imageId, rendition.name), rendition.body, {
        contentType: rendition.contentType,
        cacheControl: DERIVATIVE_CACHE_CONTROL,
      }),
    ),
  );
}

/** Removes the public copies (the image is not listed after all: withdrawn or taken down meanwhile). */
export async function unpublishRenditions(store: ObjectStore, buckets: Pick<Buckets, "derivativesBucket">, imageId: string, renditions: readonly StoredRendition[]): Promise<void> {
  await settleAll(renditions.map((rendition) => store.deleteObject(buckets.derivativesBucket, derivativeKey(imageId, rendition.name))));
}

/**
 * Stores the AI tags and categories of `labels` and refreshes tag_text. AI tags never override the
 * contributor's own keywords (same tag: the contributor's row stays); only categories the
 * marketplace has are filed (an admin may have removed one the prompts still name). With
 * `replace`, the image's earlier AI tags and categories go first (a reprocess with a new model).
 */
export async function storeAiLabels(tx: Transaction, imageId: string, labels: Pick<Inference, "tags" | "categories">, options: { replace: boolean }): Promise<void> {
  if (options.replace) {
    await tx.delete(imageTags).where(and(eq(imageTags.imageId, imageId), eq(imageTags.source, "ai")));
    await tx.delete(imageCategories).where(and(eq(imageCategories.imageId, imageId), eq(imageCategories.source, "ai")));
  }
  if (labels.tags.length > 0) {
    await tx
      .insert(imageTags)
      .values(labels.tags.map((t) => ({ imageId, tag: t.tag, confidence: t.confidence, source: "ai" as const })))
      .onConflictDoNothing();
  }
  if (options.replace || labels.tags.length > 0)
    await tx
      .update(images)
      .set({ tagText: tagTextFor(imageId) })
      .where(eq(images.id, imageId));
  const known = labels.categories.length
    ? new Set(
        (
          await tx
            .select({ slug: categories.slug })
            .from(categories)
            .where(
              inArray(
                categories.slug,
                labels.categories.map((c) => c.slug),
              ),
            )
        ).map((c) => c.slug),
      )
    : new Set<string>();
  const filed = labels.categories.filter((c) => known.has(c.slug));
  if (filed.length > 0) {
    await tx
      .insert(imageCategories)
      .values(filed.map((c) => ({ imageId, categorySlug: c.slug, confidence: c.confidence, source: "ai" as const })))
      .onConflictDoNothing();
  }
}
