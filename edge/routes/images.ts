import { type Context, Hono } from "hono";
import * as v from "valibot";
import { NEAR_DUPLICATE_MAX_DISTANCE, NSFW_THRESHOLD } from "../../common/images";
import { licenseType } from "../../db/schema";
import type { AppEnv } from "../env";
import { background, caller, input, spec } from "../lib/route";
import * as s from "../lib/schemas";
import { clientIp } from "../middleware/rate-limit";
import { findSimilarImages, ImagePageSchema, SimilarImagesSchema, showImagePage } from "../services/catalogue/image-page";
import { EditedListingSchema, editListing, ListingEditSchema, ProcessingStatusSchema, processingStatus, WithdrawalSchema, withdrawImage } from "../services/catalogue/images";
import { authorizeDownload, DownloadTicketSchema } from "../services/commerce/downloads";

const SimilarQuery = v.strictObject({
  perPage: v.optional(v.pipe(v.string(), v.regex(/^\d{1,2}$/, "must be 1-48"), v.transform(Number), v.minValue(1, "must be 1-48"), v.maxValue(48, "must be 1-48")), "24"),
  safe: v.optional(
    v.pipe(
      v.picklist(["true", "false"], "must be true or false"),
      v.transform((value) => value === "true"),
    ),
    "true",
  ),
});

/** Listed images are public for a minute: pages change when the contributor edits or withdraws. */
const PUBLIC_CACHE = "public, max-age=60";

const access = ["contributor", "admin"] as const;

/** The caller, with this request's id for the audit log. */
const actor = (c: Context<AppEnv>) => ({ ...caller(c), requestId: c.var.requestId });

/**
 * Images: the public page and similar images of a listed image; for its contributor (and admins),
 * processing status, metadata edits and withdrawal from sale; for a buyer holding a license, the
 * download of the original through a short-lived signed URL.
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
      const page = await showImagePage({ db: c.var.db, urls: c.var.urls, log: c.var.log, background: background(c) }, c.req.valid("param").id);
      return c.json(page, 200, { "cache-control": PUBLIC_CACHE });
    },
  )
  .get(
    "/:id/similar",
    spec({
      summary: "Visually similar images (nearest CLIP embeddings), near-duplicates collapsed",
      description: `Only for a listed image (else 404). Excludes the image itself, its duplicates and images within ${NEAR_DUPLICATE_MAX_DISTANCE} bits of its perceptual hash, and keeps one of any near-identical results. \`safe=true\` (the default) keeps images scored below ${NSFW_THRESHOLD} by the NSFW classifier. An image without an embedding gets no results and \`degraded: ["semantic"]\`.`,
      tags: ["images"],
      access: "public",
      apiKeyScope: "images:read",
      responses: { 200: { description: "Up to perPage similar images, most similar first (cached for 60 s)", schema: SimilarImagesSchema } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    input("query", SimilarQuery),
    async (c) => {
      const similar = await findSimilarImages(c.var.db, c.req.valid("param").id, c.req.valid("query"), c.var.urls);
      return c.json(similar, 200, { "cache-control": PUBLIC_CACHE });
    },
  )
  .get(
    "/:id/download",
    spec({
      summary: "Download an original you hold a license for: a signed URL valid for 5 minutes",
      description:
        "`license` is a license id you hold for this image, or a license type (standard | enhanced | editorial): a held license of that type is used, " +
        "else one subscription credit is spent (standard and editorial only). Re-downloads are allowed; every download is recorded. " +
        "The URL is a presigned GET of the private originals bucket; changing any part of it breaks the signature.",
      tags: ["commerce"],
      access: ["buyer"],
      apiKeyScope: "downloads:create",
      responses: {
        200: { description: "The signed URL", schema: DownloadTicketSchema },
        403: { description: "No valid license and no subscription credit (license-required)" },
        404: { description: "No such image, or no such license of yours for it" },
        410: { description: "The image was taken down" },
      },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    input("query", v.strictObject({ license: v.union([s.uuid, v.picklist(licenseType.enumValues)], "must be a license id or a license type") })),
    async (c) => {
      const deps = { db: c.var.db, config: c.var.config, s3: c.var.s3 };
      const client = { ip: clientIp(c), userAgent: c.req.header("user-agent") ?? null };
      const ticket = await authorizeDownload(deps, caller(c), c.req.valid("param").id, c.req.valid("query").license, client);
      return c.json(ticket, 200, { "cache-control": "no-store" });
    },
  )
  .get(
    "/:id/status",
    spec({
      summary: "Where an upload is: stage, outcome and the reason for it",
      description: "`derivatives` are the public URLs of a listed image and presigned URLs of the private copies (15 minutes) of any other.",
      tags: ["images"],
      access,
      responses: { 200: { description: "Processing status", schema: ProcessingStatusSchema } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    async (c) => c.json(await processingStatus({ db: c.var.db, config: c.var.config, s3: c.var.s3, urls: c.var.urls }, c.req.valid("param").id, actor(c))),
  )
  .patch(
    "/:id",
    spec({
      summary: "Edit a listing's title, description, keywords, categories or editorial flag",
      tags: ["images"],
      access,
      responses: { 200: { description: "The edited fields", schema: EditedListingSchema } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    input("json", ListingEditSchema),
    async (c) => c.json(await editListing({ db: c.var.db, store: c.var.store, log: c.var.log }, c.req.valid("param").id, actor(c), c.req.valid("json"))),
  )
  .delete(
    "/:id",
    spec({
      summary: "Withdraw an image from sale (buyers who licensed it can still download it)",
      description: "Its renditions leave the public bucket (and, with CLOUDFLARE_ZONE_ID set, the CDN); the contributor still sees them through presigned URLs.",
      tags: ["images"],
      access,
      responses: { 200: { description: "Withdrawn", schema: WithdrawalSchema } },
    }),
    input("param", v.strictObject({ id: s.uuid })),
    async (c) => {
      const deps = { db: c.var.db, env: c.env, config: c.var.config, urls: c.var.urls, log: c.var.log, store: c.var.store };
      return c.json(await withdrawImage(deps, c.req.valid("param").id, actor(c)));
    },
  );
