import { type Context, Hono } from "hono";
import * as v from "valibot";
import type { AppEnv } from "../env";
import { decodeCursor } from "../lib/pagination";
import { caller, input, spec } from "../lib/route";
import * as s from "../lib/schemas";
import { AuditLogPageSchema, AuditLogQuerySchema, decodeAuditCursor, listAuditLog } from "../services/admin/audit";
import { type ModerationAction, ModerationOutcomeSchema, ModerationQueueSchema, ModerationReasonSchema, moderateAndSync, moderationQueue } from "../services/admin/moderation";
import { ReprocessEnqueuedSchema, ReprocessRequestSchema, reprocessByAdmin } from "../services/admin/reprocess";
import { ReconcileReportSchema, reconcileRenditions } from "../services/catalogue/renditions";
import { listRememberedQueries, RememberedQueriesSchema, RememberedQuerySchema, setQueryBlocked } from "../services/catalogue/search-queries";
import { POPULAR_QUERY_MIN_SEARCHERS } from "../services/catalogue/search-sql";
import { listPrices, PriceChangeResultSchema, PriceChangeSchema, PriceListSchema, setPrice } from "../services/commerce/prices";

const reason = ModerationReasonSchema;
const ImageParam = v.strictObject({ id: s.uuid });

const PriceBody = PriceChangeSchema;

const access = ["admin"] as const;

/** What a listing change needs to sync the public renditions bucket and retire cached searches. */
const listingSyncDeps = (c: Context<AppEnv>) => ({ db: c.var.db, env: c.env, config: c.var.config, urls: c.var.urls, log: c.var.log, store: c.var.store });

/** One moderation decision by the calling admin, with the public bucket synced after it. */
const moderateByCaller = (c: Context<AppEnv>, imageId: string, action: ModerationAction, detail: { reason?: string; note?: string }) =>
  moderateAndSync(listingSyncDeps(c), imageId, action, { actorId: caller(c).userId, requestId: c.var.requestId }, detail);

/** Admin moderation, takedowns, prices and the audit log. Every change is audited in its own transaction. */
export const adminRoutes = new Hono<AppEnv>()
  .get(
    "/moderation/queue",
    spec({
      summary: "Images waiting for review, oldest first",
      tags: ["admin"],
      access,
      responses: { 200: { description: "A page of images pending review", schema: ModerationQueueSchema } },
    }),
    input("query", v.strictObject(s.pageQuery)),
    async (c) => {
      const { limit, cursor } = c.req.valid("query");
      return c.json(await moderationQueue(c.var.db, limit, cursor ? decodeCursor(cursor) : undefined, { config: c.var.config, s3: c.var.s3, urls: c.var.urls }));
    },
  )
  .post(
    "/moderation/:id/approve",
    spec({
      summary: "Approve an image pending review: it goes on sale",
      description: "Only from pending review (409 otherwise). Sets the publication date the first time.",
      tags: ["admin"],
      access,
      responses: { 200: { description: "Approved; its renditions are now public", schema: ModerationOutcomeSchema } },
    }),
    input("param", ImageParam),
    input("json", v.strictObject({ note: v.optional(s.text(500)) })),
    async (c) => {
      const { note } = c.req.valid("json");
      return c.json(await moderateByCaller(c, c.req.valid("param").id, "approve", note ? { note } : {}));
    },
  )
  .post(
    "/moderation/:id/reject",
    spec({
      summary: "Reject an image pending review, with the reason shown to its contributor",
      description: "Only from pending review (409 otherwise).",
      tags: ["admin"],
      access,
      responses: { 200: { description: "Rejected", schema: ModerationOutcomeSchema } },
    }),
    input("param", ImageParam),
    input("json", v.strictObject({ reason })),
    async (c) => c.json(await moderateByCaller(c, c.req.valid("param").id, "reject", c.req.valid("json"))),
  )
  .post(
    "/images/:id/takedown",
    spec({
      summary: "Take an approved image down: off search and sale, originals no longer handed out",
      description: "Only an approved image that is not taken down already (409 otherwise). Licenses already sold stay on record.",
      tags: ["admin"],
      access,
      responses: { 200: { description: "Taken down; its public renditions are deleted and, with CLOUDFLARE_ZONE_ID set, purged from the CDN", schema: ModerationOutcomeSchema } },
    }),
    input("param", ImageParam),
    input("json", v.strictObject({ reason })),
    async (c) => c.json(await moderateByCaller(c, c.req.valid("param").id, "takedown", c.req.valid("json"))),
  )
  .post(
    "/reprocess",
    spec({
      summary: "Re-run pipeline steps over processed images (back-fill a new or changed step)",
      description:
        "Queues `image.reprocess` for the named images, or for every processed image (`all: true`, at most 5000 per call: follow `next` until it is null). The GPU worker re-runs the steps from each stored original and writes only what those steps own: no status, listing or publication changes, and renditions of unlisted images stay private. Sending the same request twice is harmless.",
      tags: ["admin"],
      access,
      responses: { 202: { description: "Queued; `next` is where the following call for `all` starts", schema: ReprocessEnqueuedSchema } },
    }),
    input("json", ReprocessRequestSchema),
    async (c) => c.json(await reprocessByAdmin({ db: c.var.db, queue: c.env.JOBS }, c.req.valid("json"), { actorId: caller(c).userId, requestId: c.var.requestId }), 202),
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
          schema: ReconcileReportSchema,
        },
      },
    }),
    input(
      "json",
      v.strictObject({
        cursor: v.optional(s.uuid),
        limit: v.optional(v.pipe(v.number(), v.integer("must be 1-100"), v.minValue(1, "must be 1-100"), v.maxValue(100, "must be 1-100")), 50),
      }),
    ),
    async (c) => {
      const { cursor, limit } = c.req.valid("json");
      return c.json(await reconcileRenditions(listingSyncDeps(c), { after: cursor, limit }));
    },
  )
  .get(
    "/audit-log",
    spec({
      summary: "The audit log, newest first",
      description: "Filter by action (e.g. moderation.approve), actor or target id.",
      tags: ["admin"],
      access,
      responses: { 200: { description: "A page of audit entries", schema: AuditLogPageSchema } },
    }),
    input("query", AuditLogQuerySchema),
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
          schema: PriceListSchema,
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
      responses: {
        200: { description: "The price as stored, and the amount it replaced", schema: PriceChangeResultSchema },
      },
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
      responses: { 200: { description: "Up to limit remembered searches", schema: RememberedQueriesSchema } },
    }),
    input("query", v.strictObject({ q: v.optional(s.text(100, 0), ""), blocked: v.optional(v.picklist(["true", "false"])), limit: v.optional(s.pageQuery.limit, "50") })),
    async (c) => {
      const { q, blocked, limit } = c.req.valid("query");
      return c.json(await listRememberedQueries(c.var.db, { prefix: q, blocked: blocked === undefined ? undefined : blocked === "true", limit }));
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
