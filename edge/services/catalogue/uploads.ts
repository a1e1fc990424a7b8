import { and, eq } from "drizzle-orm";
import * as v from "valibot";
import {
  isUploadContentType,
  MAX_UPLOAD_BYTES,
  MULTIPART_PART_BYTES,
  MULTIPART_THRESHOLD_BYTES,
  originalKey,
  parseUploadKey,
  UPLOAD_CONTENT_TYPES,
  type UploadContentType,
  uploadKey,
  uploadKeyOf,
} from "../../../common/images";
import { jobMessage } from "../../../common/jobs";
import type { S3Client } from "../../../common/s3";
import type { Database } from "../../../db/connect";
import { images, jobs } from "../../../db/schema";
import type { Config } from "../../config";
import { ApiError } from "../../lib/problem";
import * as s from "../../lib/schemas";
import { assertCategoriesExist, ownImage, writeContributorLabels } from "./listings";
import { ListingFields } from "./schemas";

/** Queue names as wrangler.toml declares them; `queue()` dispatches on them. */
export const QUEUES = { jobs: "edgestock-jobs", uploads: "edgestock-uploads", deadLetters: "edgestock-jobs-dlq" } as const;

/** Presigned upload URLs live an hour: long enough for 200 MB on a slow line, short enough to leak little. */
export const UPLOAD_URL_TTL_SECONDS = 3600;

/** `s3`: R2's S3 API, for presigning and multipart uploads (c.var.s3 in a request). */
export type UploadDeps = { db: Database; config: Config; env: Env; s3: S3Client };

/** `POST /v1/uploads`: the listing, and the file to come. */
export const NewUploadSchema = v.strictObject({
  ...ListingFields,
  // Checked by createUpload so an unaccepted type is a 415 naming the accepted ones, not a 422.
  contentType: v.pipe(s.text(100), v.toLowerCase()),
  bytes: v.pipe(
    v.number(),
    v.integer("must be a whole number of bytes"),
    v.minValue(1, "an empty file is not an image"),
    v.maxValue(MAX_UPLOAD_BYTES, `uploads are limited to ${MAX_UPLOAD_BYTES} bytes (200 MB)`),
  ),
  /** Force (or refuse) a multipart upload; by default files over 64 MiB use one. */
  multipart: v.optional(v.boolean()),
});
export type NewUpload = v.InferOutput<typeof NewUploadSchema>;

/** A presigned URL for one part of a multipart upload. */
export const SignedPartSchema = v.object({ partNumber: v.number(), url: v.string(), method: v.literal("PUT"), headers: v.record(v.string(), v.string()), expiresAt: v.string() });
type SignedPart = v.InferOutput<typeof SignedPartSchema>;

/** Where and how the contributor sends the file. */
export const UploadTicketSchema = v.object({
  imageId: s.uuid,
  /** Where the upload lands (`uploads/...`): never the key buyers download from. */
  key: v.string(),
  method: v.literal("PUT"),
  expiresAt: v.string(),
  /** Single upload: PUT the whole file here with exactly `headers`. */
  uploadUrl: v.optional(v.string()),
  headers: v.optional(v.record(v.string(), v.string())),
  /** Multipart upload: PUT each part to its URL, then complete with the parts' ETags. */
  multipart: v.optional(v.object({ uploadId: v.string(), partSize: v.number(), partCount: v.number(), parts: v.array(SignedPartSchema) })),
});
export type UploadTicket = v.InferOutput<typeof UploadTicketSchema>;

/** 415 for anything but the accepted image types, naming them. */
export function assertUploadType(contentType: string): asserts contentType is UploadContentType {
  if (!isUploadContentType(contentType)) {
    throw new ApiError("unsupported-media-type", `${contentType} is not accepted; upload one of ${UPLOAD_CONTENT_TYPES.join(", ")}`, {
      accepted: UPLOAD_CONTENT_TYPES,
    });
  }
}

async function signParts(s3: S3Client, config: Config, key: string, uploadId: string, bytes: number, partNumbers: number[]): Promise<SignedPart[]> {
  const partCount = Math.ceil(bytes / MULTIPART_PART_BYTES);
  return Promise.all(
    partNumbers.map(async (partNumber) => {
      const contentLength = partNumber < partCount ? MULTIPART_PART_BYTES : bytes - MULTIPART_PART_BYTES * (partCount - 1);
      const signed = await s3.presignUploadPart(config.ORIGINALS_BUCKET_NAME, key, uploadId, partNumber, { expiresIn: UPLOAD_URL_TTL_SECONDS, contentLength });
      return { partNumber, url: signed.url, method: "PUT" as const, headers: signed.headers, expiresAt: signed.expiresAt.toISOString() };
    }),
  );
}

/**
 * Creates the listing in `processing` (stage awaiting_upload) and signs where its bytes go: one
 * presigned PUT bound to the exact key, content type and length, or a multipart upload with a
 * presigned URL per part for large files. That key is the upload key, not the original's: the
 * pipeline writes the original buyers download from what it vetted, so re-using the URL after
 * approval cannot swap the file.
 */
export async function createUpload(deps: UploadDeps, contributorId: string, upload: NewUpload): Promise<UploadTicket> {
  const { db, config } = deps;
  assertUploadType(upload.contentType);
  const contentType = upload.contentType;
  await assertCategoriesExist(db, upload.categories ?? []);
  const imageId = crypto.randomUUID();
  const key = uploadKey(contributorId, imageId, contentType);
  const { s3 } = deps;
  const multipart = upload.multipart ?? upload.bytes > MULTIPART_THRESHOLD_BYTES;
  const uploadId = multipart ? await s3.createMultipartUpload(config.ORIGINALS_BUCKET_NAME, key, { contentType }) : null;

  await db.transaction(async (tx) => {
    await tx.insert(images).values({
      id: imageId,
      contributorId,
      title: upload.title,
      description: upload.description ?? null,
      editorial: upload.editorial ?? false,
      status: "processing",
      stage: "awaiting_upload",
      originalKey: originalKey(contributorId, imageId, contentType),
      declaredBytes: upload.bytes,
      declaredContentType: contentType,
      multipartUploadId: uploadId,
    });
    await writeContributorLabels(tx, imageId, upload.keywords, upload.categories);
  });

  if (uploadId) {
    const partCount = Math.ceil(upload.bytes / MULTIPART_PART_BYTES);
    const parts = await signParts(
      s3,
      config,
      key,
      uploadId,
      upload.bytes,
      Array.from({ length: partCount }, (_, i) => i + 1),
    );
    return {
      imageId,
      key,
      method: "PUT",
      expiresAt: parts[0]?.expiresAt ?? new Date().toISOString(),
      multipart: { uploadId, partSize: MULTIPART_PART_BYTES, partCount, parts },
    };
  }
  const signed = await s3.presign("PUT", config.ORIGINALS_BUCKET_NAME, key, { expiresIn: UPLOAD_URL_TTL_SECONDS, contentType, contentLength: upload.bytes });
  return { imageId, key, method: "PUT", uploadUrl: signed.url, headers: signed.headers, expiresAt: signed.expiresAt.toISOString() };
}

/** `POST /v1/uploads/{id}/parts`. */
export const MorePartsSchema = v.object({ parts: v.array(SignedPartSchema) });
export type MoreParts = v.InferOutput<typeof MorePartsSchema>;

/** Fresh part URLs for a multipart upload still in flight (to resume after they expired). */
export async function signMoreParts(deps: UploadDeps, imageId: string, actor: { userId: string; role: string }, partNumbers: number[]): Promise<MoreParts> {
  const image = await ownImage(deps.db, imageId, actor);
  const key = uploadKeyOf(image);
  if (image.stage !== "awaiting_upload" || !image.multipartUploadId || !key || !image.declaredBytes) {
    throw new ApiError("conflict", "this image has no multipart upload in flight");
  }
  const partCount = Math.ceil(image.declaredBytes / MULTIPART_PART_BYTES);
  const bad = partNumbers.filter((n) => n > partCount);
  if (bad.length > 0) throw new ApiError("validation-failed", `this upload has ${partCount} parts`, { errors: bad.map((n) => ({ path: "partNumbers", message: `no part ${n}` })) });
  return { parts: await signParts(deps.s3, deps.config, key, image.multipartUploadId, image.declaredBytes, partNumbers) };
}

/** An upload's state after `complete`: whether this call enqueued its processing. */
export const UploadStateSchema = v.object({ imageId: s.uuid, status: v.string(), stage: v.string(), enqueued: v.boolean() });
export type UploadState = v.InferOutput<typeof UploadStateSchema>;

/**
 * Marks the upload received and enqueues its one processing job. The conditional update from
 * awaiting_upload is the single winner between the client's /complete and R2's event
 * notification; the job row is keyed (image_id, job_type) so a repeat inserts nothing. The queue
 * send comes after the commit: if it fails, the job stays `queued` and the maintenance sweep
 * sends it again (the worker is idempotent, so a duplicate message redoes nothing).
 */
export async function enqueueProcessing(deps: UploadDeps, imageId: string, size: number): Promise<boolean> {
  const claimed = await deps.db.transaction(async (tx) => {
    const [row] = await tx
      .update(images)
      .set({ stage: "queued", bytes: size, uploadedAt: new Date(), multipartUploadId: null, updatedAt: new Date() })
      .where(and(eq(images.id, imageId), eq(images.stage, "awaiting_upload")))
      .returning({ id: images.id });
    if (!row) return false;
    await tx.insert(jobs).values({ imageId, jobType: "image.process", status: "queued" }).onConflictDoNothing();
    return true;
  });
  if (claimed) await deps.env.JOBS.send(jobMessage("image.process", { imageId }), { contentType: "json" });
  return claimed;
}

async function failUpload(deps: UploadDeps, imageId: string, key: string, reason: string) {
  await deps.env.ORIGINALS.delete(key);
  await deps.db
    .update(images)
    .set({ status: "processing_failed", stage: "failed", statusReason: reason, multipartUploadId: null, updatedAt: new Date() })
    .where(and(eq(images.id, imageId), eq(images.stage, "awaiting_upload")));
}

/**
 * `POST /v1/uploads/{id}/complete`: finishes a multipart upload when `parts` are given, checks the
 * object exists with the declared size, and enqueues processing. Calling it again returns the
 * current state and enqueues nothing.
 */
export async function completeUpload(
  deps: UploadDeps,
  imageId: string,
  actor: { userId: string; role: string },
  parts?: { partNumber: number; etag: string }[],
): Promise<UploadState> {
  const image = await ownImage(deps.db, imageId, actor);
  const key = uploadKeyOf(image) as string;
  if (image.stage !== "awaiting_upload") return { imageId, status: image.status, stage: image.stage, enqueued: false };
  if (image.multipartUploadId) {
    if (!parts || parts.length === 0) throw new ApiError("validation-failed", "a multipart upload completes with its parts", { errors: [{ path: "parts", message: "required" }] });
    try {
      await deps.s3.completeMultipartUpload(deps.config.ORIGINALS_BUCKET_NAME, key, image.multipartUploadId, parts);
    } catch (error) {
      throw new ApiError("conflict", `the multipart upload could not be completed: ${(error as Error).message}`);
    }
  }
  const object = await deps.env.ORIGINALS.head(key);
  if (!object) throw new ApiError("conflict", "no upload found for this image yet: PUT the file to the upload URL first", { key });
  if (object.size !== image.declaredBytes) {
    const reason = `the upload is ${object.size} bytes but ${image.declaredBytes} were declared`;
    await failUpload(deps, imageId, key, reason);
    throw new ApiError("validation-failed", reason, { errors: [{ path: "bytes", message: reason }] });
  }
  const enqueued = await enqueueProcessing(deps, imageId, object.size);
  const [now] = await deps.db.select({ status: images.status, stage: images.stage }).from(images).where(eq(images.id, imageId));
  return { imageId, status: now?.status ?? image.status, stage: now?.stage ?? "queued", enqueued };
}

/** Abandons an upload that has not completed: aborts its multipart upload and removes the listing. */
export async function abortUpload(deps: UploadDeps, imageId: string, actor: { userId: string; role: string }) {
  const image = await ownImage(deps.db, imageId, actor);
  if (image.stage !== "awaiting_upload") throw new ApiError("conflict", "this upload is complete; withdraw the image instead (DELETE /v1/images/{id})");
  const key = uploadKeyOf(image);
  if (image.multipartUploadId && key) {
    await deps.s3.abortMultipartUpload(deps.config.ORIGINALS_BUCKET_NAME, key, image.multipartUploadId).catch(() => undefined);
  }
  if (key) await deps.env.ORIGINALS.delete(key);
  await deps.db.delete(images).where(and(eq(images.id, imageId), eq(images.stage, "awaiting_upload")));
}

/** R2 event notification (object-create on the originals bucket), as Cloudflare documents it. */
const R2Event = v.object({
  bucket: v.string(),
  action: v.string(),
  object: v.object({ key: v.string(), size: v.optional(v.number()) }),
});

/**
 * Production's completion path: R2 tells the edge an upload arrived (under `uploads/`). Same checks
 * and the same single enqueue as /complete; events for other keys or actions are ignored. A PUT to
 * the upload URL after the pipeline finished with the image changes nothing anyone receives; its
 * object is deleted here so it does not linger.
 */
export async function handleUploadEvent(deps: UploadDeps, body: unknown): Promise<"enqueued" | "ignored" | "rejected"> {
  const event = v.safeParse(R2Event, body);
  if (!event.success || !["PutObject", "CompleteMultipartUpload", "CopyObject"].includes(event.output.action)) return "ignored";
  const parsed = parseUploadKey(event.output.object.key);
  if (!parsed) return "ignored";
  const [image] = await deps.db.select().from(images).where(eq(images.id, parsed.imageId));
  if (!image || uploadKeyOf(image) !== event.output.object.key) return "ignored";
  if (image.stage === "done" || image.stage === "failed") {
    await deps.env.ORIGINALS.delete(event.output.object.key);
    return "ignored";
  }
  if (image.stage !== "awaiting_upload") return "ignored";
  const object = await deps.env.ORIGINALS.head(event.output.object.key);
  if (!object) return "ignored";
  if (object.size !== image.declaredBytes) {
    await failUpload(deps, image.id, event.output.object.key, `the upload is ${object.size} bytes but ${image.declaredBytes} were declared`);
    return "rejected";
  }
  return (await enqueueProcessing(deps, image.id, object.size)) ? "enqueued" : "ignored";
}
