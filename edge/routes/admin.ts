import { type Context, Hono } from "hono";
import * as v from "valibot";
import { imageStatus, licenseType } from "../../db/schema";
import type { AppEnv } from "../env";
import { decodeCursor } from "../lib/pagination";
import { ApiError } from "../lib/problem";
import { caller, input, spec } from "../lib/route";
import * as s from "../lib/schemas";
import { decodeAuditCursor, listAuditLog } from "../services/admin/audit";
import { type ModerationAction, moderate, moderationQueue } from "../services/admin/moderation";
import { listPrices, setPrice } from "../services/commerce/prices";
import { type RenditionDeps, reconcileRenditions, syncRenditions } from "../services/catalogue/renditions";
import { openStore } from "../adapters/store";
import { catalogueChanged } from "../services/catalogue/search";
import { listRememberedQueries, setQueryBlocked } from "../services/catalogue/search-queries";
import { POPULAR_QUERY_MIN_SEARCHERS } from "../services/catalogue/search-sql";

const RememberedQuerySchema = v.object({
  query: v.string(),
  searches: v.number(),
  searchers: v.number(),
  blocked: v.boolean(),
  suggested: v.boolean(),
  lastSeenAt: v.string(),
});

const QueueItemSchema = v.object({
  id: s.uuid,
  title: v.string(),
  contributor: v.object({ id: s.uuid, displayName: v.string() }),
  statusReason: v.nullable(v.string()),
  nsfwScore: v.nullable(v.number()),
  duplicateOf: v.nullable(s.uuid),
  editorial: v.boolean(),
  thumbnailUrl: v.nullable(v.string()),
  previewUrl: v.nullable(v.string()),
  createdAt: v.string(),
});

const ModeratedSchema = v.object({
  image: v.object({
    id: s.uuid,
    status: v.picklist(imageStatus.enumValues),
    statusReason: v.nullable(v.string()),
    publishedAt: v.nullable(v.string()),
    takenDownAt: v.nullable(v.string()),
    updatedAt: v.string(),
  }),
});

const AuditEntrySchema = v.object({
  id: v.number(),
  actorId: v.nullable(s.uuid),
  action: v.string(),
  targetType: v.nullable(v.string()),
  targetId: v.nullable(v.string()),
  detail: v.nullable(v.record(v.string(), v.unknown())),
  requestId: v.nullable(v.string()),
  createdAt: v.string(),
});

const PriceFields = {
  id: s.uuid,
  imageId: v.nullable(s.uuid),
  licenseType: v.picklist(licenseType.enumValues),
  currency: v.string(),
  amountCents: v.number(),
  active: v.boolean(),
  updatedAt: v.string(),
};

const reason = s.text(500, 3);
const ImageParam = v.strictObject({ id: s.uuid });

const PriceBody = v.strictObject({
  licenseType: v.picklist(licenseType.enumValues, "must be standard, enhanced or editorial"),
  amountCents: v.pipe(v.number(), v.safeInteger("must be a whole number of cents"), v.minValue(1, "must be 1-10000000"), v.maxValue(10_000_000, "must be 1-10000000")),
  currency: v.optional(v.pipe(v.string(), v.regex(/^[a-z]{3}$/, "must be a lower-case ISO 4217 code, e.g. usd"))),
  imageId: v.optional(s.uuid),
});

const access = ["admin"] as const;

const renditions = (c: Context<AppEnv>): RenditionDeps => ({ db: c.var.db, env: c.env, config: c.var.config });

/** What a moderation decision did to the public copies of the image's renditions. */
const RenditionsSchema = v.object({ published: v.number(), unpublished: v.number(), cdnPurge: v.picklist(["purged", "not-configured", "failed", "none"]) });

const ModeratedWithRenditions = v.object({ ...ModeratedSchema.entries, renditions: RenditionsSchema });

/**
 * A moderation decision, then the public bucket made to follow the listing (approve publishes,
 * reject and takedown unpublish and purge). A decision refused as a conflict still syncs, so
 * repeating one whose sync failed after its commit finishes the job.
 */
async function decideAndSync(c: Context<AppEnv>, imageId: string, action: ModerationAction, detail: { reason?: string; note?: string }) {
  let image: Awaited<ReturnType<typeof moderate>>;
  try {
    image = await moderate(c.var.db, imageId, action, { actorId: caller(c).userId, requestId: c.var.requestId }, detail);
  } catch (error) {
    if (error instanceof ApiError && error.type === "conflict") await syncRenditions(renditions(c), imageId, { onlyMissing: true });
    throw error;
  }
  await catalogueChanged(openStore(c.var.config));
  const synced = await syncRenditions(renditions(c), image.id);
  return { image, renditions: { published: synced.published.length, unpublished: synced.unpublished.length, cdnPurge: synced.purge } };
}

/** Admin moderation, takedowns, prices and the audit log. Every change is audited in its own transaction. */
export const adminRoutes = new Hono<AppEnv>()
  .get(
    "/moderation/queue",
    spec({
      summary: "Images waiting for review, oldest first",
      tags: ["admin"],
      access,
      responses: { 200: { description: "A page of images pending review", schema: v.object({ items: v.array(QueueItemSchema), nextCursor: v.nullable(v.string()) }) } },
    }),
    input("query", v.strictObject(s.pageQuery)),
    async (c) => {
      const { limit, cursor } = c.req.valid("query");
      return c.json(await moderationQueue(c.var.db, limit, cursor ? decodeCursor(cursor) : undefined, renditions(c)));
    },
  )
  .post(
    "/moderation/:id/approve",
    spec({
      summary: "Approve an image pending review: it goes on sale",
      description: "Only from pending review (409 otherwise). Sets the publication date the first time.",
      tags: ["admin"],
      access,
      responses: { 200: { description: "Approved; its renditions are now public", schema: ModeratedWithRenditions } },
    }),
    input("param", ImageParam),
    input("json", v.strictObject({ note: v.optional(s.text(500)) })),
    async (c) => {
      const { note } = c.req.valid("json");
      return c.json(await decideAndSync(c, c.req.valid("param").id, "approve", note ? { note } : {}));
    },
  )
  .post(
    "/moderation/:id/reject",
    spec({
      summary: "Reject an image pending review, with the reason shown to its contributor",
      description: "Only from pending review (409 otherwise).",
      tags: ["admin"],
      access,
      responses: { 200: { description: "Rejected", schema: ModeratedWithRenditions } },
    }),
    input("param", ImageParam),
    input("json", v.strictObject({ reason })),
    async (c) => {
      return c.json(await decideAndSync(c, c.req.valid("param").id, "reject", c.req.valid("json")));
    },
  )
  .post(
    "/images/:id/takedown",
    spec({
      summary: "Take an approved image down: off search and sale, originals no longer handed out",
      description: "Only an approved image that is not taken down already (409 otherwise). Licenses already sold stay on record.",
      tags: ["admin"],
      access,
      responses: { 200: { description: "Taken down; its public renditions are deleted and, with CLOUDFLARE_ZONE_ID set, purged from the CDN", schema: ModeratedWithRenditions } },
    }),
    input("param", ImageParam),
    input("json", v.strictObject({ reason })),
    async (c) => {
      return c.json(await decideAndSync(c, c.req.valid("param").id, "takedown", c.req.valid("json")));
    },
  )
  .post(
    "/renditions/reconcile",
    spec({
      summary: "Make the public renditions bucket follow the listings, a page of images at a time",
      description:
        "For up to `limit` images after `cursor` (by id): listed images get missing public copies, unlisted ones (pending, rejected, taken down, withdrawn) lose theirs (kept privately first) and their URLs are purged from the CDN. Run once, following `nextCursor` until it is null, after deploying private renditions; the hourly maintenance does the same for images changed in the last two hours.",
      tags: ["admin"],
      access,
      responses: {
        200: {
          description: "What this page changed",
          schema: v.object({ checked: v.number(), published: v.number(), unpublished: v.number(), purgeFailed: v.number(), nextCursor: v.nullable(s.uuid) }),
        },
      },
    }),
    input("json", v.strictObject({ cursor: v.optional(s.uuid), limit: v.optional(v.pipe(v.number(), v.integer("must be 1-100"), v.minValue(1, "must be 1-100"), v.maxValue(100, "must be 1-100")), 50) })),
    async (c) => {
      const { cursor, limit } = c.req.valid("json");
      return c.json(await reconcileRenditions(renditions(c), { after: cursor, limit }));
    },
  )
  .get(
    "/audit-log",
    spec({
      summary: "The audit log, newest first",
      description: "Filter by action (e.g. moderation.approve), actor or target id.",
      tags: ["admin"],
      access,
      responses: { 200: { description: "A page of audit entries", schema: v.object({ items: v.array(AuditEntrySchema), nextCursor: v.nullable(v.string()) }) } },
    }),
    input("query", v.strictObject({ ...s.pageQuery, action: v.optional(s.text(100)), actorId: v.optional(s.uuid), targetId: v.optional(s.text(200)) })),
    async (c) => {
      const { limit, cursor, ...filter } = c.req.valid("query");
      return c.json(await listAuditLog(c.var.db, filter, limit, cursor ? decodeAuditCursor(cursor) : undefined));
    },
  )
  .get(
    "/prices",
    spec({
      summary: "The price list: marketplace defaults and per-image prices",
      description: "All defaults, and a page of per-image prices (newest first), optionally for one image.",
      tags: ["admin"],
      access,
      responses: {
        200: {
          description: "Defaults and a page of image prices",
          schema: v.object({
            defaults: v.array(v.object(PriceFields)),
            overrides: v.array(v.object({ ...PriceFields, imageTitle: v.string() })),
            nextCursor: v.nullable(v.string()),
          }),
        },
      },
    }),
    input("query", v.strictObject({ ...s.pageQuery, imageId: v.optional(s.uuid) })),
    async (c) => {
      const { limit, cursor, imageId } = c.req.valid("query");
      return c.json(await listPrices(c.var.db, { imageId }, limit, cursor ? decodeCursor(cursor) : undefined));
    },
  )
  .put(
    "/prices",
    spec({
      summary: "Set a default price, or one image's price",
      description:
        "Without `imageId`, the marketplace default for the license type and currency; with it, that image's own price. Currency defaults to usd. Editorial images take editorial prices only (422).",
      tags: ["admin"],
      access,
      responses: { 200: { description: "The price as stored, and the amount it replaced", schema: v.object({ price: v.object(PriceFields), previousAmountCents: v.nullable(v.number()) }) } },
    }),
    input("json", PriceBody),
    async (c) => c.json(await setPrice(c.var.db, c.req.valid("json"), { actorId: caller(c).userId, requestId: c.var.requestId })),
  )
  .get(
    "/search-queries",
    spec({
      summary: "Remembered searches behind the popular-search suggestions, most searchers first",
      description: `A search is suggested to everyone once ${POPULAR_QUERY_MIN_SEARCHERS} distinct searchers ran it and found something, unless it is blocked.`,
      tags: ["admin"],
      access,
      responses: { 200: { description: "Up to limit remembered searches", schema: v.object({ items: v.array(RememberedQuerySchema) }) } },
    }),
    input("query", v.strictObject({ q: v.optional(s.text(100, 0), ""), blocked: v.optional(v.picklist(["true", "false"])), limit: v.optional(s.pageQuery.limit, "50") })),
    async (c) => {
      const { q, blocked, limit } = c.req.valid("query");
      return c.json({ items: await listRememberedQueries(c.var.db, { prefix: q, blocked: blocked === undefined ? undefined : blocked === "true", limit }) });
    },
  )
  .post(
    "/search-queries/block",
    spec({
      summary: "Never suggest a search (normalised as the search route records it), audited",
      tags: ["admin"],
      access,
      responses: { 200: { description: "The search as now remembered", schema: RememberedQuerySchema } },
    }),
    input("json", v.strictObject({ query: s.text(200) })),
    async (c) => c.json(await setQueryBlocked(c.var.db, c.req.valid("json").query, true, { actorId: caller(c).userId, requestId: c.var.requestId })),
  )
  .post(
    "/search-queries/unblock",
    spec({
      summary: "Let a blocked search be suggested again once enough people run it, audited",
      tags: ["admin"],
      access,
      responses: { 200: { description: "The search as now remembered", schema: RememberedQuerySchema } },
    }),
    input("json", v.strictObject({ query: s.text(200) })),
    async (c) => c.json(await setQueryBlocked(c.var.db, c.req.valid("json").query, false, { actorId: caller(c).userId, requestId: c.var.requestId })),
  );
