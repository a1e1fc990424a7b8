import { sql } from "drizzle-orm";
import { bigint, boolean, check, index, integer, jsonb, pgEnum, pgTable, real, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { id, timestamps, tstz, tsvector } from "./columns";
import { users } from "./users";

export const imageStatus = pgEnum("image_status", ["processing", "approved", "rejected", "pending_review", "processing_failed"]);

/** Object keys of the generated renditions in the public derivatives bucket, by rendition name. */
export type DerivativeKeys = Partial<Record<"thumb150" | "thumb450" | "thumb1000" | "preview", string>>;

/** Dominant colours (OKLab k-means), largest share first; shares sum to about 1. */
export type Palette = { hex: string; share: number; bucket: string }[];

/**
 * Where an image is in its way in: the contributor's upload, the queue, the worker, finished.
 * `status` says the outcome (processing until the pipeline decides); `stage` says the step.
 */
export const IMAGE_STAGES = ["awaiting_upload", "queued", "processing", "done", "failed"] as const;
export type ImageStage = (typeof IMAGE_STAGES)[number];

/** How the ML steps (embedding, AI tags, NSFW) stand for an image. */
export const ML_STATUSES = ["pending", "done", "unavailable"] as const;
export type MlStatus = (typeof ML_STATUSES)[number];

/**
 * One uploaded photo and everything derived from it. `tag_text` mirrors image_tags (kept in sync by
 * the app) because a generated column cannot read another table; `search_vector` is generated from
 * it so title, tag and description matches rank A > B > C without a trigger.
 */
export const images = pgTable(
  "images",
  {
    id: id(),
    contributorId: uuid("contributor_id")
      .notNull()
      .references(() => users.id, { onDelete: "restrict" }),
    title: text("title").notNull(),
    description: text("description"),
    status: imageStatus("status").notNull().default("processing"),
    /** Why the image is rejected, pending review or failed processing; shown to the contributor. */
    statusReason: text("status_reason"),
    /** Editorial images may only be sold under an editorial license. */
    editorial: boolean("editorial").notNull().default(false),
    /**
     * Attribution the photo's own licence requires (imported third-party work, e.g. CC BY-SA): the
     * author line shown on the image page, the licence it came under and where it came from.
     * Null for contributors' own uploads.
     */
    credit: text("credit"),
    creditLicense: text("credit_license"),
    creditSource: text("credit_source"),
    /** SHA-256 of the original file: an exact re-upload is refused. */
    sha256: text("sha256"),
    /** 64-bit perceptual hash for near-duplicate detection (Hamming distance). */
    phash: bigint("phash", { mode: "bigint" }),
    width: integer("width"),
    height: integer("height"),
    orientation: text("orientation").generatedAlwaysAs(
      sql`case when width is null or height is null then null when width > height then 'landscape' when width < height then 'portrait' else 'square' end`,
    ),
    /** Detected container format, e.g. jpeg, png, webp. */
    format: text("format"),
    /** Size of the stored original, checked against `declaredBytes` when the upload completes. */
    bytes: bigint("bytes", { mode: "number" }),
    /** What the contributor said they would upload; the presigned URL is signed for exactly this. */
    declaredBytes: bigint("declared_bytes", { mode: "number" }),
    declaredContentType: text("declared_content_type"),
    /** R2 multipart upload id while a large upload is in flight. */
    multipartUploadId: text("multipart_upload_id"),
    stage: text("stage").$type<ImageStage>().notNull().default("awaiting_upload"),
    uploadedAt: tstz("uploaded_at"),
    /** The image this one duplicates (exact or near), when the pipeline found one. */
    duplicateOf: uuid("duplicate_of"),
    aspectRatio: real("aspect_ratio"),
    /** Named bucket of the dominant colour, for the colour facet. */
    colourBucket: text("colour_bucket"),
    mlStatus: text("ml_status").$type<MlStatus>().notNull().default("pending"),
    /** Key of the untouched upload in the private R2 bucket; never served directly. */
    originalKey: text("original_key"),
    derivativeKeys: jsonb("derivative_keys").$type<DerivativeKeys>(),
    nsfwScore: real("nsfw_score"),
    palette: jsonb("palette").$type<Palette>(),
    /** Technical metadata (EXIF camera, lens, exposure); location is stripped before storing. */
    metadata: jsonb("metadata").$type<Record<string, unknown>>(),
    /** Space-joined image_tags.tag, rewritten by the app whenever the tags change. */
    tagText: text("tag_text").notNull().default(""),
    searchVector: tsvector("search_vector").generatedAlwaysAs(
      sql`setweight(to_tsvector('english', coalesce(title, '')), 'A') || setweight(to_tsvector('english', tag_text), 'B') || setweight(to_tsvector('english', coalesce(description, '')), 'C')`,
    ),
    viewCount: bigint("view_count", { mode: "number" }).notNull().default(0),
    downloadCount: bigint("download_count", { mode: "number" }).notNull().default(0),
    saleCount: bigint("sale_count", { mode: "number" }).notNull().default(0),
    publishedAt: tstz("published_at"),
    /** Set when the contributor withdraws the image: hidden from search, existing licenses stay valid. */
    withdrawnAt: tstz("withdrawn_at"),
    /**
     * Set when an admin takes an approved image down (status becomes rejected, reason in
     * status_reason): it leaves search and sale, and its originals are no longer handed out.
     */
    takenDownAt: tstz("taken_down_at"),
    ...timestamps,
  },
  (t) => [
    index("images_search_vector_idx").using("gin", t.searchVector),
    index("images_status_created_idx").on(t.status, t.createdAt),
    index("images_contributor_created_idx").on(t.contributorId, t.createdAt),
    index("images_phash_idx").on(t.phash),
    // Browse's windows (edge/services/catalogue/search-sql.ts): listed images newest first, and most
    // popular first (then newest, which is the boost's order among equal popularity).
    index("images_listed_published_idx").on(t.publishedAt.desc().nullsLast(), t.id).where(sql`status = 'approved' and withdrawn_at is null and taken_down_at is null`),
    index("images_listed_popularity_idx")
      .on(sql`(sale_count + 0.1 * download_count) desc`, t.publishedAt.desc().nullsLast(), t.id)
      .where(sql`status = 'approved' and withdrawn_at is null and taken_down_at is null`),
    // One listing per file: a duplicate keeps its hash but points at what it duplicates.
    uniqueIndex("images_sha256_original_key").on(t.sha256).where(sql`sha256 is not null and duplicate_of is null`),
    check("images_stage_check", sql`stage in ('awaiting_upload', 'queued', 'processing', 'done', 'failed')`),
    check("images_ml_status_check", sql`ml_status in ('pending', 'done', 'unavailable')`),
  ],
);

export type Image = typeof images.$inferSelect;
export type ImageStatus = (typeof imageStatus.enumValues)[number];
