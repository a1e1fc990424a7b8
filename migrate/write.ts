import { and, inArray, isNull, or } from "drizzle-orm";
import { originalKey, type UploadContentType } from "../common/images";
import type { Database, Queryable } from "../db/connect";
import { storeEmbeddingRows } from "../db/embedding-models";
import { imageCategories, images, imageTags, tagTextFor } from "../db/schema";
import type { ModelEmbedding } from "../gpu-worker/pipeline/inference";
import type { processedImageFields } from "../gpu-worker/pipeline/steps";
import { type CheckpointUpdate, updateCheckpoints } from "./checkpoint";
import type { Listing } from "./listing";

/**
 * A batch's database writes, in ONE transaction: the images rows (one multi-row insert), their tags
 * and categories (one insert each), and every file's checkpoint (one update): `indexed` is set in
 * the same commit as the listing, so a file is indexed exactly when it is listed. Duplicates are
 * decided here, inside the transaction and in batch order: a file whose content is already listed
 * (by an earlier batch, an earlier run or a live upload) or appears earlier in the batch is
 * recorded as a duplicate of that listing instead.
 */

/** A file ready to be listed: analysed, inferred, uploaded. */
export type ReadyFile = {
  path: string;
  bytes: number;
  imageId: string;
  sha256: string;
  contentType: UploadContentType;
  listing: Listing;
  /** The images columns the pipeline fills, as for a live upload (gpu-worker/pipeline/steps.ts processedImageFields). */
  fields: ReturnType<typeof processedImageFields>;
  /** Its CLIP embeddings (image_embeddings), stored with the row. */
  embeddings: readonly ModelEmbedding[];
};

export type CommitResult = { listed: ReadyFile[]; duplicates: ReadyFile[] };

/**
 * Listings that already hold this content: an image with the derived id, or a live image with the
 * same SHA-256 (the one images_sha256_original_key allows). By SHA-256.
 */
export async function findListed(db: Queryable, files: readonly { imageId: string; sha256: string }[]): Promise<Map<string, string>> {
  if (files.length === 0) return new Map();
  const rows = await db
    .select({ id: images.id, sha256: images.sha256 })
    .from(images)
    .where(
      or(
        inArray(
          images.id,
          files.map((f) => f.imageId),
        ),
        and(
          inArray(
            images.sha256,
            files.map((f) => f.sha256),
          ),
          isNull(images.duplicateOf),
        ),
      ),
    );
  const bySha = new Map<string, string>();
  for (const row of rows) if (row.sha256) bySha.set(row.sha256, row.id);
  // The derived id wins over a live upload's when both exist.
  for (const file of files) if (rows.some((row) => row.id === file.imageId)) bySha.set(file.sha256, file.imageId);
  return bySha;
}

function imageRow(file: ReadyFile, contributorId: string) {
  return {
    ...file.fields,
    id: file.imageId,
    contributorId,
    title: file.listing.title,
    description: file.listing.description,
    editorial: file.listing.editorial,
    credit: file.listing.credit,
    creditLicense: file.listing.creditLicense,
    creditSource: file.listing.creditSource,
    declaredBytes: file.bytes,
    declaredContentType: file.contentType,
    uploadedAt: new Date(),
    originalKey: originalKey(contributorId, file.imageId, file.contentType),
  };
}

/**
 * Lists the batch's new content, records duplicates and failures; all or nothing. `failed` are
 * checkpoint updates for files that failed earlier in the batch, committed with the rest.
 */
export async function commitBatch(db: Database, contributorId: string, ready: readonly ReadyFile[], failed: readonly CheckpointUpdate[]): Promise<CommitResult> {
  return db.transaction(async (tx) => {
    const owner = await findListed(tx, ready);
    const winners: ReadyFile[] = [];
    const duplicates: ReadyFile[] = [];
    const claimed = new Set(owner.keys());
    for (const file of ready) {
      if (claimed.has(file.sha256)) duplicates.push(file);
      else {
        claimed.add(file.sha256);
        winners.push(file);
      }
    }

    const inserted = winners.length
      ? new Set(
          (
            await tx
              .insert(images)
              .values(winners.map((file) => imageRow(file, contributorId)))
              .onConflictDoNothing()
              .returning({ id: images.id })
          ).map((row) => row.id),
        )
      : new Set<string>();
    const listed = winners.filter((file) => inserted.has(file.imageId));
    for (const file of listed) owner.set(file.sha256, file.imageId);
    // Lost a race with a live upload of the same content since findListed: a duplicate of that one.
    const lost = winners.filter((file) => !inserted.has(file.imageId));
    if (lost.length > 0) {
      for (const [sha, id] of await findListed(tx, lost)) owner.set(sha, id);
      duplicates.push(...lost);
    }

    const tags = listed.flatMap((file) => file.listing.tags.map((t) => ({ imageId: file.imageId, tag: t.tag, confidence: t.confidence, source: t.source })));
    if (tags.length > 0) {
      await tx.insert(imageTags).values(tags).onConflictDoNothing();
      await tx
        .update(images)
        .set({ tagText: tagTextFor(images.id) })
        .where(inArray(images.id, [...new Set(tags.map((t) => t.imageId))]));
    }
    await storeEmbeddingRows(
      tx,
      listed.flatMap((file) => file.embeddings.map((e) => ({ imageId: file.imageId, ...e }))),
    );
    const categories = listed.flatMap((file) => file.listing.categories.map((c) => ({ imageId: file.imageId, categorySlug: c.slug, confidence: c.confidence, source: c.source })));
    if (categories.length > 0) await tx.insert(imageCategories).values(categories).onConflictDoNothing();

    const indexed = (file: ReadyFile, duplicate: boolean): CheckpointUpdate => {
      const imageId = owner.get(file.sha256);
      if (!imageId) throw new Error(`no listing holds the content of ${file.path} (sha256 ${file.sha256})`);
      return { sourcePath: file.path, stage: "indexed", imageId, sha256: file.sha256, bytes: file.bytes, duplicate, error: null, finished: true };
    };
    await updateCheckpoints(tx, [...listed.map((f) => indexed(f, false)), ...duplicates.map((f) => indexed(f, true)), ...failed]);
    return { listed, duplicates };
  });
}
