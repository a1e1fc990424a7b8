import { eq } from "drizzle-orm";
import { Hono } from "hono";
import * as v from "valibot";
import { images, jobs, licenseType, tagSource } from "../../db/schema";
import type { AppEnv } from "../env";
import { ApiError } from "../lib/problem";
import { caller, input, spec } from "../lib/route";
import * as s from "../lib/schemas";
import { audit } from "../services/admin/audit";
import { findSimilarImages, loadImagePage, recordImageView } from "../services/catalogue/image-page";
import { renditionUrlsFor, syncRenditions } from "../services/catalogue/renditions";
import { assertCategoriesExist, ownImage, writeContributorLabels } from "../services/catalogue/uploads";
import { ListingFields } from "./uploads";
import { openStore } from "../adapters/store";
import { catalogueChanged } from "../services/catalogue/search";

/** URLs of an image's renditions, by name (thumb150, thumb450, thumb1000, preview). */
const Derivatives = v.record(v.string(), v.string());

const StatusSchema = v.object({
  imageId: s.uuid,
  status: v.string(),
  stage: v.string(),
  reason: v.nullable(v.string()),
  duplicateOf: v.nullable(v.string()),
  withdrawn: v.boolean(),
  attempts: v.number(),
  derivatives: Derivatives,
  updatedAt: v.string(),
});

const PatchBody = v.pipe(
  v.strictObject({
    title: v.optional(ListingFields.title),
    // "" clears the description.
    description: v.optional(s.text(5000, 0)),
    // An empty list clears the contributor's keywords (AI tags stay).
    keywords: v.optional(v.pipe(v.array(s.text(50)), v.maxLength(50, "at most 50 keywords"))),
    categories: ListingFields.categories,
    editorial: ListingFields.editorial,
  }),
  v.check((body) => Object.keys(body).length > 0, "change at least one field"),
);

const ImagePageSchema = v.object({
  id: s.uuid,
  title: v.string(),
  description: v.nullable(v.string()),
  contributor: v.object({ id: s.uuid, displayName: v.string() }),
  tags: v.array(v.object({ tag: v.string(), source: v.picklist(tagSource.enumValues) })),
  categories: v.array(v.object({ slug: v.string(), name: v.string() })),
  width: v.nullable(v.number()),
  height: v.nullable(v.number()),
  orientation: v.nullable(v.picklist(["landscape", "portrait", "square"])),
  aspectRatio: v.nullable(v.number()),
  colours: v.array(v.object({ hex: v.string(), share: v.number(), bucket: v.string() })),
  technical: v.object({
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
  }),
  editorial: v.boolean(),
  /** Attribution the image's own licence requires (imported third-party work); null for contributors' own photos. */
  credit: v.nullable(v.object({ author: v.string(), license: v.nullable(v.string()), source: v.nullable(v.string()) })),
  derivatives: Derivatives,
  prices: v.array(v.object({ licenseType: v.picklist(licenseType.enumValues), currency: v.string(), amountCents: v.number() })),
  publishedAt: v.nullable(v.string()),
});

const SimilarSchema = v.object({
  imageId: s.uuid,
  results: v.array(
    v.object({
      id: s.uuid,
      title: v.string(),
      width: v.nullable(v.number()),
      height: v.nullable(v.number()),
      orientation: v.nullable(v.string()),
      editorial: v.boolean(),
      derivatives: Derivatives,
      similarity: v.number(),
    }),
  ),
  degraded: v.array(v.picklist(["semantic"])),
  notice: v.optional(v.string()),
});

const SimilarQuery = v.strictObject({
  perPage: v.optional(v.pipe(v.string(), v.regex(/^\d{1,2}$/, "must be 1-48"), v.transform(Number), v.minValue(1, "must be 1-48"), v.maxValue(48, "must be 1-48")), "24"),
  safe: v.optional(v.pipe(v.picklist(["true", "false"], "must be true or false"), v.transform((value) => value === "true")), "true"),
});

/** Listed images are public for a minute: pages change when the contributor edits or withdraws. */
const PUBLIC_CACHE = "public, max-age=60";

const access = ["contributor", "admin"] as const;

/**
 * Images: the public page and similar images of a listed image; for its contributor (and admins),
 * processing status, metadata edits and withdrawal from sale.
 */
export const imageRoutes = new Hono<AppEnv>()
  .get(
    "/:id",
    spec({
      summary: "An image's page: listing, contributor, tags, technical metadata, renditions and prices",
      description: "Only approved images that are not withdrawn; any other id is a 404. Counts a view.",
      tags: ["images"],
      access: "public",
      apiKeyScope: "images:read",
      responses: { 200: { description: "The image page (cached for 60 s)", schema: ImagePageSchema } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    async (c) => {
      const { id } = c.req.valid("param");
      // Started now so it holds a connection before the response; it never fails the request.
      const viewed = recordImageView(c.var.db, id).catch((error: unknown) => {
        console.error(JSON.stringify({ level: "error", msg: "view count not recorded", requestId: c.var.requestId, imageId: id, error: String(error) }));
      });
      try {
        c.executionCtx.waitUntil(viewed);
      } catch {
        // No execution context (app.request() in a test): the request's pool still waits for it.
      }
      const page = await loadImagePage(c.var.db, id, c.var.config.DERIVATIVES_PUBLIC_URL);
      c.header("cache-control", PUBLIC_CACHE);
      return c.json(page);
    },
  )
  .get(
    "/:id/similar",
    spec({
      summary: "Visually similar images (nearest CLIP embeddings), near-duplicates collapsed",
      description:
        "Only for a listed image (else 404). Excludes the image itself, its duplicates and images within 6 bits of its perceptual hash, and keeps one of any near-identical results. `safe=true` (the default) keeps images scored below 0.1 by the NSFW classifier. An image without an embedding gets no results and `degraded: [\"semantic\"]`.",
      tags: ["images"],
      access: "public",
      apiKeyScope: "images:read",
      responses: { 200: { description: "Up to perPage similar images, most similar first (cached for 60 s)", schema: SimilarSchema } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    input("query", SimilarQuery),
    async (c) => {
      const { perPage, safe } = c.req.valid("query");
      const similar = await findSimilarImages(c.var.db, c.req.valid("param").id, { perPage, safe }, c.var.config.DERIVATIVES_PUBLIC_URL);
      c.header("cache-control", PUBLIC_CACHE);
      return c.json(similar);
    },
  )
  .get(
    "/:id/status",
    spec({
      summary: "Where an upload is: stage, outcome and the reason for it",
      description: "`derivatives` are the public URLs of a listed image and presigned URLs of the private copies (15 minutes) of any other.",
      tags: ["images"],
      access,
      responses: { 200: { description: "Processing status", schema: StatusSchema } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    async (c) => {
      const image = await ownImage(c.var.db, c.req.valid("param").id, caller(c));
      const [job] = await c.var.db.select({ attempts: jobs.attempts, lastError: jobs.lastError }).from(jobs).where(eq(jobs.imageId, image.id));
      const derivatives = await renditionUrlsFor({ config: c.var.config, env: c.env }, image);
      return c.json({
        imageId: image.id,
        status: image.status,
        stage: image.stage,
        reason: image.statusReason ?? (image.status === "processing" ? (job?.lastError ?? null) : null),
        duplicateOf: image.duplicateOf,
        withdrawn: image.withdrawnAt !== null,
        attempts: job?.attempts ?? 0,
        derivatives,
        updatedAt: image.updatedAt.toISOString(),
      });
    },
  )
  .patch(
    "/:id",
    spec({
      summary: "Edit a listing's title, description, keywords, categories or editorial flag",
      tags: ["images"],
      access,
      responses: { 200: { description: "The edited fields", schema: v.object({ imageId: s.uuid, title: v.string(), description: v.nullable(v.string()), editorial: v.boolean() }) } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    input("json", PatchBody),
    async (c) => {
      const actor = caller(c);
      const image = await ownImage(c.var.db, c.req.valid("param").id, actor);
      const body = c.req.valid("json");
      await assertCategoriesExist(c.var.db, body.categories ?? []);
      const updated = await c.var.db.transaction(async (tx) => {
        const [row] = await tx
          .update(images)
          .set({
            ...(body.title !== undefined ? { title: body.title } : {}),
            ...(body.description !== undefined ? { description: body.description || null } : {}),
            ...(body.editorial !== undefined ? { editorial: body.editorial } : {}),
            updatedAt: new Date(),
          })
          .where(eq(images.id, image.id))
          .returning({ imageId: images.id, title: images.title, description: images.description, editorial: images.editorial });
        await writeContributorLabels(tx, image.id, body.keywords, body.categories);
        if (actor.role === "admin" && actor.userId !== image.contributorId) {
          await audit(tx, { actorId: actor.userId, action: "image.edit", targetType: "image", targetId: image.id, detail: body, requestId: c.var.requestId });
        }
        return row;
      });
      await catalogueChanged(openStore(c.var.config));
      return c.json(updated);
    },
  )
  .delete(
    "/:id",
    spec({
      summary: "Withdraw an image from sale (buyers who licensed it can still download it)",
      description: "Its renditions leave the public bucket (and, with CLOUDFLARE_ZONE_ID set, the CDN); the contributor still sees them through presigned URLs.",
      tags: ["images"],
      access,
      responses: { 200: { description: "Withdrawn", schema: v.object({ imageId: s.uuid, withdrawnAt: v.string() }) } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    async (c) => {
      const actor = caller(c);
      const image = await ownImage(c.var.db, c.req.valid("param").id, actor);
      if (image.stage === "awaiting_upload") throw new ApiError("conflict", "this upload never completed: abandon it with DELETE /v1/uploads/{id}");
      const withdrawnAt = image.withdrawnAt ?? new Date();
      if (!image.withdrawnAt) {
        await c.var.db.update(images).set({ withdrawnAt, updatedAt: new Date() }).where(eq(images.id, image.id));
        if (actor.role === "admin" && actor.userId !== image.contributorId) {
          await audit(c.var.db, { actorId: actor.userId, action: "image.withdraw", targetType: "image", targetId: image.id, requestId: c.var.requestId });
        }
      }
      await catalogueChanged(openStore(c.var.config));
      // Also when it was withdrawn already: a repeat finishes a sync that failed after the commit.
      await syncRenditions({ db: c.var.db, env: c.env, config: c.var.config }, image.id);
      return c.json({ imageId: image.id, withdrawnAt: withdrawnAt.toISOString() });
    },
  );
