import { and, eq, inArray, ne, sql } from "drizzle-orm";
import type { Database } from "../../db/connect";
import { categories, imageCategories, images, imageTags, jobs, tagTextFor } from "../../db/schema";
import {
  DERIVATIVE_CACHE_CONTROL,
  derivativeKey,
  isListed,
  isUploadContentType,
  PRIVATE_RENDITION_CACHE_CONTROL,
  privateRenditionKey,
  type RenditionName,
  uploadKeyOf,
} from "../../common/images";
import type { JobMessage } from "../../common/jobs";
import type { NsfwModel } from "../ml/nsfw";
import { type AnalysedImage, analyseImage, type RawImage, RejectedFile, renderDerivatives } from "../pipeline/index";

/** The CLIP image encoder as the pipeline needs it (gpu-worker/ml/clip.ts). */
export type ImageEmbedder = { modelId: string; version: string; embedImage(image: RawImage): Promise<Float32Array> };
/** AI tags and categories from an image embedding (gpu-worker/ml/tagger.ts). */
export type ImageTagger = {
  tag(embedding: Float32Array): { tags: { tag: string; confidence: number }[]; categories: { slug: string; confidence: number }[] };
};

/** Where originals are read and derivatives written: R2's S3 API (common/s3.ts S3Client) in production and locally. */
export type ObjectStore = {
  getObject(bucket: string, key: string): Promise<Uint8Array | null>;
  putObject(bucket: string, key: string, body: Uint8Array, options: { contentType: string; cacheControl?: string }): Promise<unknown>;
  deleteObject(bucket: string, key: string): Promise<unknown>;
};

export type ImageJobDeps = {
  db: Database;
  store: ObjectStore;
  nsfw: NsfwModel | null;
  /** Null when no CLIP model is installed: images then record ml_status "unavailable". */
  clip: ImageEmbedder | null;
  tagger: ImageTagger | null;
  settings: {
    originalsBucket: string;
    derivativesBucket: string;
    maxInputPixels: number;
    phashMaxDistance: number;
    nsfwThreshold: number;
  };
};

export type JobOutcome = { outcome: "done" | "skipped" | "rejected"; status?: string; reason?: string; timings?: Record<string, number> };

const JOB_TYPE = "image.process";

type Duplicate = { id: string; contributorId: string; kind: "exact" | "near"; distance: number };

/**
 * Exact duplicates by SHA-256, then near duplicates by perceptual hash (Hamming distance over the
 * 64 bits), across every contributor's live images. The near-duplicate query scans the phash
 * column; at millions of images it wants a BK-tree or multi-index hashing (see README limits).
 */
async function findDuplicate(db: Database, imageId: string, image: AnalysedImage, maxDistance: number): Promise<Duplicate | null> {
  const live = sql`${images.id} <> ${imageId} and ${images.duplicateOf} is null and ${images.status} not in ('rejected', 'processing_failed')`;
  const [exact] = await db
    .select({ id: images.id, contributorId: images.contributorId })
    .from(images)
    .where(sql`${images.sha256} = ${image.sha256} and ${live}`)
    .limit(1);
  if (exact) return { ...exact, kind: "exact", distance: 0 };
  const distance = sql<number>`bit_count((${images.phash} # ${image.phash})::bit(64))::int`;
  const [near] = await db
    .select({ id: images.id, contributorId: images.contributorId, distance })
    .from(images)
    .where(sql`${images.phash} is not null and ${live} and ${distance} <= ${maxDistance}`)
    .orderBy(distance)
    .limit(1);
  return near ? { ...near, kind: "near" } : null;
}

/**
 * The moderation decision: auto-approve only a unique image the NSFW model scored clean. Also what
 * the batch migration (migrate/) decides for each file it lists.
 */
export function decide(duplicate: Duplicate | null, contributorId: string, nsfw: number | null, threshold: number): { status: "approved" | "pending_review" | "rejected"; reason: string | null } {
  if (duplicate && duplicate.contributorId !== contributorId) {
    return { status: "rejected", reason: `duplicate of image ${duplicate.id} (${duplicate.kind === "exact" ? "identical file" : `near-identical, ${duplicate.distance} of 64 hash bits differ`})` };
  }
  const reasons: string[] = [];
  if (duplicate) reasons.push(`looks like a re-upload of your image ${duplicate.id} (${duplicate.kind === "exact" ? "identical file" : "near-identical"})`);
  if (nsfw === null) reasons.push("NSFW score unavailable (no classifier loaded)");
  else if (nsfw >= threshold) reasons.push(`NSFW score ${nsfw.toFixed(3)} is at or above ${threshold}`);
  return reasons.length > 0 ? { status: "pending_review", reason: reasons.join("; ") } : { status: "approved", reason: null };
}

/**
 * `image.process`: everything from an uploaded original to a moderated listing. Idempotent per
 * image: a finished job is skipped; a re-run after a crash rewrites the same derivative keys with
 * the same bytes and commits the image row once (the final update only applies while the image
 * is still being processed). Throws to retry (missing original, database or R2 errors); a file
 * the pipeline refuses is recorded and not retried.
 */
export async function processImage(deps: ImageJobDeps, message: JobMessage<"image.process">, attempt: number): Promise<JobOutcome> {
  const { db, store, settings } = deps;
  const { imageId } = message.payload;
  const [image] = await db.select().from(images).where(eq(images.id, imageId));
  if (!image) return { outcome: "skipped", reason: "the image no longer exists" };
  const [job] = await db.select().from(jobs).where(and(eq(jobs.imageId, imageId), eq(jobs.jobType, JOB_TYPE)));
  const uploaded = uploadKeyOf(image);
  if (job?.status === "done" || image.stage === "done" || image.stage === "failed") {
    // A crash between the commit and the clean-up below leaves the upload behind: this delivery removes it.
    if (uploaded) await store.deleteObject(settings.originalsBucket, uploaded);
    return { outcome: "skipped", reason: `already processed (${image.status})`, status: image.status };
  }
  if (image.stage === "awaiting_upload") return { outcome: "skipped", reason: "the upload has not completed" };

  await db
    .insert(jobs)
    .values({ imageId, jobType: JOB_TYPE, status: "running", attempts: attempt, startedAt: new Date() })
    .onConflictDoUpdate({ target: [jobs.imageId, jobs.jobType], set: { status: "running", attempts: attempt, startedAt: new Date(), updatedAt: new Date() } });
  await db.update(images).set({ stage: "processing", updatedAt: new Date() }).where(and(eq(images.id, imageId), eq(images.stage, "queued")));

  // The contributor's bytes are read from the upload key, once; buyers get only what this job
  // vetted and cleaned, written to the original key (which no presigned upload URL points at).
  if (!image.originalKey || !uploaded) throw new Error("the image has no original key or declared type");
  const bytes = await store.getObject(settings.originalsBucket, uploaded);
  if (!bytes) throw new Error(`the upload ${uploaded} is not in the bucket`);

  let analysed: AnalysedImage;
  try {
    const declared = image.declaredContentType && isUploadContentType(image.declaredContentType) ? image.declaredContentType : null;
    analysed = await analyseImage(bytes, declared, { maxInputPixels: settings.maxInputPixels });
  } catch (error) {
    if (!(error instanceof RejectedFile)) throw error;
    // A refused file leaves nothing behind: no derivatives, no hashes, not the upload; just the reason.
    await db.transaction(async (tx) => {
      await tx
        .update(images)
        .set({ status: "processing_failed", stage: "failed", statusReason: error.message, updatedAt: new Date() })
        .where(and(eq(images.id, imageId), ne(images.stage, "done")));
      await tx
        .update(jobs)
        .set({ status: "failed", lastError: error.message, finishedAt: new Date(), updatedAt: new Date() })
        .where(and(eq(jobs.imageId, imageId), eq(jobs.jobType, JOB_TYPE)));
    });
    await store.deleteObject(settings.originalsBucket, uploaded);
    return { outcome: "rejected", status: "processing_failed", reason: error.message };
  }
  await store.putObject(settings.originalsBucket, image.originalKey, analysed.original, { contentType: image.declaredContentType as string });

  const timings = analysed.timings;
  const duplicate = await findDuplicate(db, imageId, analysed, settings.phashMaxDistance);
  const rejectedDuplicate = duplicate !== null && duplicate.contributorId !== image.contributorId;

  // A duplicate of someone else's image gets no derivatives: it will never be shown. The others go
  // to their private copies first; the public bucket gets them only if the image ends up listed.
  const derivativeKeys: Partial<Record<RenditionName, string>> = {};
  let renditions: Awaited<ReturnType<typeof renderDerivatives>> = [];
  if (!rejectedDuplicate) {
    renditions = await renderDerivatives(analysed, imageId);
    const started = performance.now();
    await Promise.all(
      renditions.map(async (rendition) => {
        const key = derivativeKey(imageId, rendition.name);
        await store.putObject(settings.originalsBucket, privateRenditionKey(key), rendition.body, { contentType: rendition.contentType, cacheControl: PRIVATE_RENDITION_CACHE_CONTROL });
        derivativeKeys[rendition.name] = key;
      }),
    );
    timings.store = performance.now() - started;
  }

  let nsfw: number | null = null;
  if (deps.nsfw && !rejectedDuplicate) {
    const started = performance.now();
    const [scores] = await deps.nsfw.score([analysed.working]);
    nsfw = scores ? Math.round(scores.nsfw * 10_000) / 10_000 : null;
    timings.nsfw = performance.now() - started;
  }

  let embedding: Float32Array | null = null;
  let labels: ReturnType<ImageTagger["tag"]> = { tags: [], categories: [] };
  if (deps.clip && !rejectedDuplicate) {
    const started = performance.now();
    embedding = await deps.clip.embedImage(analysed.working);
    if (deps.tagger) labels = deps.tagger.tag(embedding);
    timings.clip = performance.now() - started;
  }

  const decision = decide(duplicate, image.contributorId, nsfw, settings.nsfwThreshold);
  // An approved image is listed the moment the row commits, so its public copies go first (unless
  // the contributor withdrew it meanwhile); a crash before the commit leaves them for the retry or
  // the edge's reconcile.
  const [fresh] = await db.select({ withdrawnAt: images.withdrawnAt }).from(images).where(eq(images.id, imageId));
  const publish = decision.status === "approved" && fresh?.withdrawnAt === null;
  if (publish) {
    await Promise.all(
      renditions.map((rendition) =>
        store.putObject(settings.derivativesBucket, derivativeKey(imageId, rendition.name), rendition.body, { contentType: rendition.contentType, cacheControl: DERIVATIVE_CACHE_CONTROL }),
      ),
    );
  }
  const committed = await db.transaction(async (tx) => {
    const [row] = await tx
      .update(images)
      .set({
        status: decision.status,
        statusReason: decision.reason,
        stage: "done",
        sha256: analysed.sha256,
        bytes: analysed.original.byteLength,
        phash: analysed.phash,
        duplicateOf: duplicate?.id ?? null,
        width: analysed.width,
        height: analysed.height,
        aspectRatio: analysed.aspectRatio,
        format: analysed.format,
        metadata: { ...analysed.metadata.technical },
        palette: analysed.palette,
        colourBucket: analysed.colourBucket,
        derivativeKeys,
        nsfwScore: nsfw,
        embedding: embedding ? Array.from(embedding) : null,
        embeddingModel: embedding ? (deps.clip?.modelId ?? null) : null,
        embeddingVersion: embedding ? (deps.clip?.version ?? null) : null,
        mlStatus: embedding ? "done" : rejectedDuplicate ? "pending" : "unavailable",
        publishedAt: decision.status === "approved" ? new Date() : null,
        updatedAt: new Date(),
      })
      .where(and(eq(images.id, imageId), ne(images.stage, "done")))
      .returning({ id: images.id });
    if (row && labels.tags.length > 0) {
      // AI tags never override the contributor's own keywords (same tag: the contributor's row stays).
      await tx
        .insert(imageTags)
        .values(labels.tags.map((t) => ({ imageId, tag: t.tag, confidence: t.confidence, source: "ai" as const })))
        .onConflictDoNothing();
      await tx
        .update(images)
        .set({ tagText: tagTextFor(imageId) })
        .where(eq(images.id, imageId));
    }
    // Only categories the marketplace has (an admin may have removed one the prompts still name).
    const known = labels.categories.length
      ? new Set((await tx.select({ slug: categories.slug }).from(categories).where(inArray(categories.slug, labels.categories.map((c) => c.slug)))).map((c) => c.slug))
      : new Set<string>();
    const filed = labels.categories.filter((c) => known.has(c.slug));
    if (row && filed.length > 0) {
      await tx
        .insert(imageCategories)
        .values(filed.map((c) => ({ imageId, categorySlug: c.slug, confidence: c.confidence, source: "ai" as const })))
        .onConflictDoNothing();
    }
    await tx
      .update(jobs)
      .set({ status: "done", lastError: null, finishedAt: new Date(), updatedAt: new Date(), output: { status: decision.status, reason: decision.reason, timings } })
      .where(and(eq(jobs.imageId, imageId), eq(jobs.jobType, JOB_TYPE)));
    return row !== undefined;
  });
  if (publish) {
    // Withdrawn between the check and the commit, or another delivery decided otherwise: not listed, not public.
    const [after] = await db.select({ status: images.status, withdrawnAt: images.withdrawnAt, takenDownAt: images.takenDownAt }).from(images).where(eq(images.id, imageId));
    if (!after || !isListed(after)) await Promise.all(renditions.map((rendition) => store.deleteObject(settings.derivativesBucket, derivativeKey(imageId, rendition.name))));
  }
  await store.deleteObject(settings.originalsBucket, uploaded);
  if (!committed) return { outcome: "skipped", reason: "another delivery finished it first" };
  return { outcome: "done", status: decision.status, reason: decision.reason ?? undefined, timings };
}

/**
 * Called when an attempt fails: keeps the reason on the job row so the contributor (status
 * route) and the dead-letter consumer can say why; on the last attempt the image is marked
 * processing_failed here too, so the outcome does not depend on the dead-letter queue.
 */
export async function recordFailure(db: Database, imageId: string, error: Error, attempt: number, maxAttempts: number) {
  const reason = `${error.message}`.slice(0, 1000);
  const last = attempt >= maxAttempts;
  await db.transaction(async (tx) => {
    await tx
      .update(jobs)
      .set({ status: last ? "dead" : "failed", lastError: reason, attempts: attempt, updatedAt: new Date(), ...(last ? { finishedAt: new Date() } : {}) })
      .where(and(eq(jobs.imageId, imageId), eq(jobs.jobType, JOB_TYPE)));
    if (last) {
      await tx
        .update(images)
        .set({ status: "processing_failed", stage: "failed", statusReason: `processing failed after ${attempt} attempts: ${reason}`, updatedAt: new Date() })
        .where(and(eq(images.id, imageId), ne(images.stage, "done")));
    }
  });
}

