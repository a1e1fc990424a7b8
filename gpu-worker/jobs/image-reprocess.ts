import { and, eq, sql } from "drizzle-orm";
import { isListed, isUploadContentType } from "../../common/images";
import type { JobMessage, ReprocessStep } from "../../common/jobs";
import type { Database } from "../../db/connect";
import { storeEmbeddings } from "../../db/embedding-models";
import { images, jobs } from "../../db/schema";
import { type AnalysedImage, analyseImage, RejectedFile, renderDerivatives } from "../pipeline/index";
import { inferBatch } from "../pipeline/inference";
import { analysisOf, requirementsOf, stepFields } from "../pipeline/steps";
import type { FailureRecorder, JobContext } from "../runner";
import { publishRenditions, storeAiLabels, storePrivateRenditions, unpublishRenditions } from "./image-outputs";
import type { ImageJobDeps, JobOutcome } from "./image-process";

const JOB_TYPE = "image.reprocess";

/**
 * `image.reprocess`: re-runs the named pipeline steps (gpu-worker/pipeline/steps.ts) on a processed
 * image from its stored original, and writes only the columns (and, for "tags", the AI tags and
 * categories) those steps own: a back-fill after a step is added or a model changes. It never
 * changes the image's status, its identity (hashes, size) or whether it is published: renditions
 * of an image that is not listed stay private. Idempotent: the same original gives the same
 * results, written under the same keys, and AI labels are replaced, not added to.
 *
 * A step whose model this worker lacks fails the attempt (retried, perhaps by a worker that has
 * it) instead of erasing what an earlier model stored.
 */
export async function reprocessImage(deps: ImageJobDeps, message: JobMessage<"image.reprocess">, context: JobContext): Promise<JobOutcome> {
  const { db, store, settings, models } = deps;
  const { imageId } = message.payload;
  const steps = new Set<ReprocessStep>(message.payload.steps);
  const [image] = await db.select().from(images).where(eq(images.id, imageId));
  if (!image) return { outcome: "skipped", reason: "the image no longer exists" };
  if (image.stage !== "done" || !image.originalKey) return { outcome: "skipped", reason: `not processed yet (stage ${image.stage})` };

  await db
    .insert(jobs)
    .values({ imageId, jobType: JOB_TYPE, status: "running", attempts: context.attempt, startedAt: new Date(), output: { steps: [...steps] } })
    .onConflictDoUpdate({
      target: [jobs.imageId, jobs.jobType],
      set: { status: "running", attempts: context.attempt, startedAt: new Date(), output: { steps: [...steps] }, updatedAt: new Date() },
    });

  const needs = requirementsOf([...steps]);
  const names = { nsfw: "the NSFW classifier", clip: "a CLIP model", tagger: "the tagger" } as const;
  const missing = [...needs.models].filter((model) => !models[model]).map((model) => names[model]);
  if (missing.length > 0) throw new Error(`this worker lacks ${missing.join(" and ")}: cannot re-run ${[...steps].join(", ")}`);

  const original = await store.getObject(settings.originalsBucket, image.originalKey);
  if (!original) throw new Error(`the original ${image.originalKey} is not in the bucket`);
  let analysed: AnalysedImage;
  try {
    const declared = image.declaredContentType && isUploadContentType(image.declaredContentType) ? image.declaredContentType : null;
    analysed = await analyseImage(original, declared, { maxInputPixels: settings.maxInputPixels });
  } catch (error) {
    if (!(error instanceof RejectedFile)) throw error;
    // The stored original no longer passes (a stricter check since): the image stays as it is.
    await failJob(db, imageId, `the stored original was refused: ${error.message}`);
    return { outcome: "rejected", reason: error.message };
  }

  const renditions = needs.render ? await renderDerivatives(analysed, imageId) : [];
  const derivativeKeys = needs.render ? await storePrivateRenditions(store, settings, imageId, renditions) : (image.derivativeKeys ?? {});
  // Public copies only for a listed image, checked again after the commit as the live job does.
  const publish = renditions.length > 0 && isListed(image);
  if (publish) await publishRenditions(store, settings, imageId, renditions);

  // Only the models the steps need: a colours back-fill runs no CLIP.
  const only = <K extends "nsfw" | "clip" | "tagger">(model: K) => (needs.models.has(model) ? models[model] : null);
  const [inference] =
    needs.models.size > 0
      ? await inferBatch({ nsfw: only("nsfw"), clip: only("clip"), tagger: only("tagger"), previousClip: steps.has("embedding") ? models.previousClip : null }, [analysed.working])
      : [null];
  const fields = stepFields({ analysis: analysisOf(analysed), derivativeKeys, inference: inference ?? null }, [...steps]);
  // Stopping past the grace period: the job was released to another worker, which will write it.
  context.signal.throwIfAborted();

  await db.transaction(async (tx) => {
    if (Object.keys(fields).length > 0) {
      await tx
        .update(images)
        .set({ ...fields, updatedAt: new Date() })
        .where(and(eq(images.id, imageId), eq(images.stage, "done")));
    }
    if (steps.has("embedding") && inference) await storeEmbeddings(tx, imageId, inference.embeddings);
    if (steps.has("tags") && inference) await storeAiLabels(tx, imageId, inference, { replace: true });
    await tx
      .update(jobs)
      .set({ status: "done", lastError: null, finishedAt: new Date(), updatedAt: new Date(), output: { steps: [...steps], timings: analysed.timings } })
      .where(and(eq(jobs.imageId, imageId), eq(jobs.jobType, JOB_TYPE)));
  });
  if (publish) {
    const [after] = await db.select({ status: images.status, withdrawnAt: images.withdrawnAt, takenDownAt: images.takenDownAt }).from(images).where(eq(images.id, imageId));
    if (!after || !isListed(after)) await unpublishRenditions(store, settings, imageId, renditions);
  }
  return { outcome: "done", status: image.status, reason: `re-ran ${[...steps].join(", ")}` };
}

async function failJob(db: Database, imageId: string, reason: string): Promise<void> {
  await db
    .update(jobs)
    .set({ status: "failed", lastError: reason, finishedAt: new Date(), updatedAt: new Date() })
    .where(and(eq(jobs.imageId, imageId), eq(jobs.jobType, JOB_TYPE)));
}

/**
 * A failed reprocess attempt: the reason on the job row, dead after the last attempt (its
 * final-failure rule in common/jobs.ts, "record-job"). The image itself is never touched.
 */
export function recordReprocessFailure(db: Database): FailureRecorder<"image.reprocess"> {
  return async (message, error, { attempt, final }) => {
    const reason = `${error.message}`.slice(0, 1000);
    const { imageId } = message.payload;
    // The image may be gone (deleted meanwhile): then there is nothing to record.
    const [image] = await db.select({ id: images.id }).from(images).where(eq(images.id, imageId));
    if (!image) return;
    await db
      .insert(jobs)
      .values({ imageId, jobType: JOB_TYPE, status: final ? "dead" : "failed", attempts: attempt, lastError: reason, ...(final ? { finishedAt: new Date() } : {}) })
      .onConflictDoUpdate({
        target: [jobs.imageId, jobs.jobType],
        set: { status: final ? "dead" : "failed", attempts: attempt, lastError: reason, updatedAt: sql`now()`, ...(final ? { finishedAt: new Date() } : {}) },
      });
  };
}
