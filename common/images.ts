import { type SQL, sql } from "drizzle-orm";

/**
 * What an upload may be and where its files live; shared by the edge (signing uploads, checking
 * completion) and the GPU worker (reading originals, writing derivatives).
 */

/** Accepted upload types and the extension their original is stored under. */
export const UPLOAD_TYPES = {
  "image/jpeg": "jpg",
  "image/png": "png",
  "image/tiff": "tif",
  "image/webp": "webp",
  "image/avif": "avif",
} as const;

export type UploadContentType = keyof typeof UPLOAD_TYPES;
export const UPLOAD_CONTENT_TYPES = Object.keys(UPLOAD_TYPES) as UploadContentType[];

export const isUploadContentType = (type: string): type is UploadContentType => Object.hasOwn(UPLOAD_TYPES, type);

/** 200 MB: the largest original a contributor may upload. */
export const MAX_UPLOAD_BYTES = 200 * 1024 * 1024;

/** Uploads above this size use a multipart upload (a dropped connection loses one part, not the file). */
export const MULTIPART_THRESHOLD_BYTES = 64 * 1024 * 1024;

/** R2 wants equal-sized parts (all but the last) of at least 5 MiB. */
export const MULTIPART_PART_BYTES = 16 * 1024 * 1024;

/**
 * Key of a delivered original in the private bucket (images.original_key): the pipeline writes it
 * from the vetted, cleaned upload; downloads serve it. No presigned URL ever points here.
 */
export const originalKey = (contributorId: string, imageId: string, contentType: UploadContentType) => `originals/${contributorId}/${imageId}.${UPLOAD_TYPES[contentType]}`;

/**
 * Key the contributor's presigned PUT (or multipart upload) writes to, in the private bucket: only
 * the pipeline reads it, and deletes it once the original is written. A later PUT to the same URL
 * (valid an hour) lands here again and changes nothing buyers receive.
 */
export const uploadKey = (contributorId: string, imageId: string, contentType: UploadContentType) => `uploads/${contributorId}/${imageId}.${UPLOAD_TYPES[contentType]}`;

/** `uploads/{contributorId}/{imageId}.{ext}` → its parts, or null for any other key. */
export function parseUploadKey(key: string): { contributorId: string; imageId: string; ext: string } | null {
  const match = /^uploads\/([0-9a-f-]{36})\/([0-9a-f-]{36})\.([a-z]+)$/.exec(key);
  return match ? { contributorId: match[1] as string, imageId: match[2] as string, ext: match[3] as string } : null;
}

/** The upload key of an image row, from its id, contributor and declared type; null when the type is not one we accept. */
export function uploadKeyOf(image: { id: string; contributorId: string; declaredContentType: string | null }): string | null {
  const type = image.declaredContentType;
  return type !== null && isUploadContentType(type) ? uploadKey(image.contributorId, image.id, type) : null;
}

/** The renditions every image gets, by name: long edge in pixels and whether it is watermarked. */
export const RENDITIONS = {
  thumb150: { size: 150, watermarked: false },
  thumb450: { size: 450, watermarked: false },
  thumb1000: { size: 1000, watermarked: true },
  preview: { size: 1200, watermarked: true },
} as const;

export type RenditionName = keyof typeof RENDITIONS;

/** The file name of a rendition in its image's folder, e.g. `thumb-450.webp`. */
export const renditionFile = (name: RenditionName) => `${name === "preview" ? "preview-1200" : `thumb-${RENDITIONS[name].size}`}.webp`;

/** Deterministic key of a rendition in the public bucket: a re-run overwrites, never duplicates. */
export const derivativeKey = (imageId: string, name: RenditionName) => `images/${imageId}/${renditionFile(name)}`;

/**
 * Key of a rendition's private copy in the originals bucket, for the rendition's public key. Every
 * rendition is kept here; the public bucket holds a copy only while the image is listed, so an
 * image that is pending, rejected, taken down or withdrawn has no publicly reachable rendition.
 */
export const privateRenditionKey = (publicKey: string) => `renditions/${publicKey}`;

/**
 * The NSFW classifier's line, used twice: an upload scoring at or above it waits for an admin
 * instead of being approved (the worker's NSFW_THRESHOLD default), and safe search shows only
 * images scoring below it.
 */
export const NSFW_THRESHOLD = 0.1;

/**
 * Two perceptual hashes at most this many bits apart (of 64) are the same picture: the worker's
 * duplicate check (PHASH_MAX_DISTANCE default) and the image page's "similar" list, which leaves
 * such near-copies out.
 */
export const NEAR_DUPLICATE_MAX_DISTANCE = 6;

type ListingState = { status: string; withdrawnAt: Date | null; takenDownAt: Date | null };

/**
 * The marketplace's visibility rule, written once for the edge and the worker: an image is listed
 * (seen by buyers, its renditions public, and for sale: a new license is issued only for a listed
 * image) while it is approved, not withdrawn and not taken down. A license already held keeps
 * working after a withdrawal, never after a takedown.
 */
export const isListed = (image: ListingState) => image.status === "approved" && image.withdrawnAt === null && image.takenDownAt === null;

/**
 * {@link isListed} in SQL, for a statement over `images` under the name `table` (drizzle's own
 * queries name it "images"; hand-written statements use an alias such as "i"). The one SQL form of
 * the rule: test/db/listing-rule.test.ts checks that it agrees with isListed over every state.
 *
 * @example db.select().from(images).where(and(eq(images.id, id), listedSql()))
 */
export function listedSql(table = "images"): SQL {
  const t = sql.identifier(table);
  return sql`(${t}.status = 'approved' and ${t}.withdrawn_at is null and ${t}.taken_down_at is null)`;
}

/**
 * Safe search's SQL: the image's NSFW score is known and below {@link NSFW_THRESHOLD} (an unscored
 * image never shows in safe search). `table` as in {@link listedSql}.
 */
export function safeForSearchSql(table = "images"): SQL {
  return sql`${sql.identifier(table)}.nsfw_score < ${NSFW_THRESHOLD}`;
}

/** Why an image that exists is not listed (so not for sale), in the words a buyer sees. */
export function notListedReason(image: ListingState): "taken-down" | "withdrawn" | "not-listed" {
  if (image.takenDownAt) return "taken-down";
  if (image.withdrawnAt) return "withdrawn";
  return "not-listed";
}

/** Derivatives never change under a key, so browsers and the CDN may keep them for a year. */
export const DERIVATIVE_CACHE_CONTROL = "public, max-age=31536000, immutable";

/** Private copies are seen through presigned URLs that live 15 minutes: no shared cache may keep them. */
export const PRIVATE_RENDITION_CACHE_CONTROL = "private, max-age=900";
