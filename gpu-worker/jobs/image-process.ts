import { and, eq, ne, sql } from "drizzle-orm";
import { isListed, isUploadContentType, uploadKeyOf } from "../../common/images";
import type { JobMessage } from "../../common/jobs";
import type { Database } from "../../db/connect";
import { storeEmbeddings } from "../../db/embedding-models";
import { type Image, images, jobs } from "../../db/schema";
import { type AnalysedImage, analyseImage, RejectedFile, renderDerivatives } from "../pipeline/index";
import { type InferenceModels, inferBatch } from "../pipeline/inference";
import { type Duplicate, moderationDecision } from "../pipeline/moderation";
import { analysisOf, processedImageFields } from "../pipeline/steps";
import type { FailureRecorder, JobContext } from "../runner";
import { type ObjectStore, publishRenditions, storeAiLabels, storePrivateRenditions, unpublishRenditions } from "./image-outputs";

export type { ObjectStore } from "./image-outputs";

export type ImageJobDeps = {
  db: Database;
  store: ObjectStore;
  /** Each null when not installed: no NSFW score means review; no CLIP means ml_status "unavailable". */
  models: InferenceModels;
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

/**
 * Exact duplicates by SHA-256, then near duplicates by perceptual hash (Hamming distance over the
 * 64 bits), across every contributor's live images. The near-duplicate query scans the phash
 * column; at millions of images it wants a BK-tree or multi-index hashing (see the README's "Known limits").
 */
async function findDuplicate(db: Database, imageId: string, image: Pick<AnalysedImage, "sha256" | "phash">, maxDistance: number): Promise<Duplicate | null> {
  const live = sql`${images.id} <> ${imageId} and ${images.duplicateOf} is null and ${images.status} not in ('rejected', 'processing_failed')`;
  const [exact] = await db.select({ id: images.id, contributorId: images.contributorId }).from(images).where(sql`${images.sha256} = ${image.sha256} and ${live}`).limit(1);
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
 * `image.process`: everything from an uploaded original to a moderated listing, as a short
 * orchestration of the pipeline (gpu-worker/pipeline/steps.ts): load the image row, read the
 * upload, run the pipeline, store, commit. Idempotent per image: a finished job is skipped; a
 * re-run after a crash rewrites the same derivative keys with the same bytes and commits the image
 * row once (the final update only applies while the image is still being processed). Throws to
 * retry (missing original, database or R2 errors); a file the pipeline refuses is recorded and not
 * retried.
 */
export async function processImage(deps: ImageJobDeps, message: JobMessage<"image.process">, context: JobContext): Promise<JobOutcome> {
  const { db, store, settings } = deps;
  const { imageId } = message.payload;
  const [image] = await db.select().from(images).where(eq(images.id, imageId));
  if (!image) return { outcome: "skipped", reason: "the image no longer exists" };
  const [job] = await db
    .select()
    .from(jobs)
    .where(and(eq(jobs.imageId, imageId), eq(jobs.jobType, JOB_TYPE)));
  const uploaded = uploadKeyOf(image);
  if (job?.status === "done" || image.stage === "done" || image.stage === "failed") {
    // A crash between the commit and the clean-up below leaves the upload behind: this delivery removes it.
    if (uploaded) await store.deleteObject(settings.originalsBucket, uploaded);
    return { outcome: "skipped", reason: `already processed (${image.status})`, status: image.status };
  }
  if (image.stage === "awaiting_upload") return { outcome: "skipped", reason: "the upload has not completed" };

  await db
    .insert(jobs)
    .values({ imageId, jobType: JOB_TYPE, status: "running", attempts: context.attempt, startedAt: new Date() })
    .onConflictDoUpdate({ target: [jobs.imageId, jobs.jobType], set: { status: "running", attempts: context.attempt, startedAt: new Date(), updatedAt: new Date() } });
  await db
    .update(images)
    .set({ stage: "processing", updatedAt: new Date() })
    .where(and(eq(images.id, imageId), eq(images.stage, "queued")));

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
    await recordRefusedFile(db, imageId, error.message);
    // A refused file leaves nothing behind: no derivatives, no hashes, not the upload; just the reason.
    await store.deleteObject(settings.originalsBucket, uploaded);
    return { outcome: "rejected", status: "processing_failed", reason: error.message };
  }
  if (analysed.removedMetadata.length > 0) context.log.info("identifying metadata removed from the original", { removed: analysed.removedMetadata });
  await store.putObject(settings.originalsBucket, image.originalKey, analysed.original, { contentType: image.declaredContentType as string });

  const outcome = await runPipeline(deps, image, analysed, context.signal);
  await store.deleteObject(settings.originalsBucket, uploaded);
  return outcome;
}

/**
 * The pipeline past the analysis, for one image: duplicates, renditions (private first), inference,
 * the moderation decision, then the public copies if it is listed and the one commit.
 */
async function runPipeline(deps: ImageJobDeps, image: Image, analysed: AnalysedImage, signal: AbortSignal): Promise<JobOutcome> {
  const { db, store, settings } = deps;
  const imageId = image.id;
  const timings = analysed.timings;
  const timed = async <T>(step: string, work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await work();
    } finally {
      timings[step] = performance.now() - started;
    }
  };

  const duplicate = await findDuplicate(db, imageId, analysed, settings.phashMaxDistance);
  // A duplicate of someone else's image gets no renditions and no inference: it will never be shown.
  const rejectedDuplicate = duplicate !== null && duplicate.contributorId !== image.contributorId;
  const renditions = rejectedDuplicate ? [] : await renderDerivatives(analysed, imageId);
  const derivativeKeys = await timed("store", () => storePrivateRenditions(store, settings, imageId, renditions));
  const [inference] = rejectedDuplicate ? [null] : await inferBatch(deps.models, [analysed.working], timed);
  const decision = moderationDecision(duplicate, image.contributorId, inference?.nsfw ?? null, settings.nsfwThreshold);
  // Stopping past the grace period: the job was released to another worker, which will commit it.
  signal.throwIfAborted();

  // An approved image is listed the moment the row commits, so its public copies go first (unless
  // the contributor withdrew it meanwhile); a crash before the commit leaves them for the retry or
  // the edge's reconcile.
  const [fresh] = await db.select({ withdrawnAt: images.withdrawnAt }).from(images).where(eq(images.id, imageId));
  const publish = decision.status === "approved" && fresh?.withdrawnAt === null;
  if (publish) await publishRenditions(store, settings, imageId, renditions);
  const fields = processedImageFields({ analysis: analysisOf(analysed), derivativeKeys, inference: inference ?? null }, decision, duplicate, new Date());
  const committed = await db.transaction(async (tx) => {
    const [row] = await tx
      .update(images)
      .set({ ...fields, updatedAt: new Date() })
      .where(and(eq(images.id, imageId), ne(images.stage, "done")))
      .returning({ id: images.id });
    if (row && inference) {
      await storeEmbeddings(tx, imageId, inference.embeddings);
      await storeAiLabels(tx, imageId, inference, { replace: false });
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
    if (!after || !isListed(after)) await unpublishRenditions(store, settings, imageId, renditions);
  }
  if (!committed) return { outcome: "skipped", reason: "another delivery finished it first" };
  return { outcome: "done", status: decision.status, reason: decision.reason ?? undefined, timings };
}

/** A file the pipeline refused: the image fails with the reason, and the job with it (not retried). */
async function recordRefusedFile(db: Database, imageId: string, reason: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx
      .update(images)
      .set({ status: "processing_failed", stage: "failed", statusReason: reason, updatedAt: new Date() })
      .where(and(eq(images.id, imageId), ne(images.stage, "done")));
    await tx
      .update(jobs)
      .set({ status: "failed", lastError: reason, finishedAt: new Date(), updatedAt: new Date() })
      .where(and(eq(jobs.imageId, imageId), eq(jobs.jobType, JOB_TYPE)));
  });
}

/**
 * Called when an attempt fails: keeps the reason on the job row so the contributor (status
 * route) and the dead-letter consumer can say why; on the last attempt the image is marked
 * processing_failed here too (the job's final-failure rule in common/jobs.ts), so the outcome
 * does not depend on the dead-letter queue.
 */
export function recordProcessFailure(db: Database): FailureRecorder<"image.process"> {
  return async (message, error, { attempt, final: last }) => {
    const { imageId } = message.payload;
    const reason = `${error.message}`.slice(0, 1000);
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
  };
}
