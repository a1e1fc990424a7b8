import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import * as v from "valibot";
import { COLOUR_BUCKETS, type ColourBucket, colourBucket } from "../../common/colours";
import type { AppEnv } from "../env";
import { ApiError } from "../lib/problem";
import { checkRateLimit, clientIp, type RateLimitRule } from "../middleware/rate-limit";
import { input, spec } from "../lib/route";
import * as s from "../lib/schemas";
import { openStore } from "../adapters/store";
import { EmbeddingRefused, embedImageQuery, embedQuery } from "../adapters/embed-service";
import { cachedSearch, decodeSearchCursor, MAX_OFFSET, recordQuery, type SearchRequest, searchImages, suggestTags } from "../services/catalogue/search";

/** Search by image: what may be uploaded (it is decoded by the worker and not stored). */
const BY_IMAGE_TYPES = ["image/jpeg", "image/png", "image/webp", "image/avif", "image/tiff"] as const;
const BY_IMAGE_MAX_BYTES = 10 * 1024 * 1024;

/** Anonymous and signed-in callers are limited per IP; API-key clients per key (servers share IPs). */
export const SEARCH_LIMITS = {
  perIp: {
    name: "search-ip",
    limit: 120,
    windowSeconds: 60,
    key: (c) => (c.var.principal?.kind === "api_key" ? null : clientIp(c)),
  } satisfies RateLimitRule,
  perApiKey: {
    name: "search-key",
    limit: 600,
    windowSeconds: 60,
    key: (c) => (c.var.principal?.kind === "api_key" ? c.var.principal.apiKeyId : null),
  } satisfies RateLimitRule,
} as const;

const HEX = /^#?[0-9a-f]{6}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;

const count = (max: number) =>
  v.pipe(v.string(), v.regex(/^\d{1,6}$/, `must be a whole number from 1 to ${max}`), v.transform(Number), v.minValue(1), v.maxValue(max));


/** The search parameters, also used (in part) by search by image. */
const SearchQueryFields = {
    q: v.optional(s.text(200, 0), ""),
    mode: v.optional(v.picklist(["keyword", "semantic", "hybrid"]), "hybrid"),
    category: v.optional(v.pipe(v.string(), v.regex(/^[a-z0-9][a-z0-9-]{0,59}$/, "must be a category slug"))),
    orientation: v.optional(v.picklist(["landscape", "portrait", "square"])),
    colour: v.optional(
      v.pipe(
        v.string(),
        v.toLowerCase(),
        v.check((c) => (COLOUR_BUCKETS as readonly string[]).includes(c) || HEX.test(c), `must be #rrggbb or one of ${COLOUR_BUCKETS.join(", ")}`),
        v.transform((c): ColourBucket => (HEX.test(c) ? colourBucket(c) : (c as ColourBucket))),
      ),
    ),
    contributor: v.optional(s.uuid),
    license: v.optional(v.picklist(["standard", "enhanced", "editorial"])),
    minWidth: v.optional(count(100_000)),
    minHeight: v.optional(count(100_000)),
    /** Published on or after (a date means its start, UTC). */
    from: v.optional(v.pipe(s.instant, v.transform((t) => new Date(t)))),
    /** Published on or before (a date includes the whole day, UTC). */
    to: v.optional(v.pipe(s.instant, v.transform((t) => new Date(Date.parse(t) + (DATE.test(t) ? DAY_MS : 1))))),
    safe: v.optional(v.pipe(v.picklist(["true", "false"]), v.transform((b) => b === "true")), "true"),
    sort: v.optional(v.picklist(["relevance", "newest", "popular"]), "relevance"),
    perPage: v.optional(count(100), "24"),
    page: v.optional(count(MAX_OFFSET)),
    cursor: s.pageQuery.cursor,
};

const SearchQuery = v.pipe(
  v.strictObject(SearchQueryFields),
  v.forward(
    v.check((q) => q.page === undefined || q.cursor === undefined, "use page or cursor, not both"),
    ["cursor"],
  ),
  v.forward(
    v.check((q) => q.page === undefined || (q.page - 1) * q.perPage <= MAX_OFFSET, `pages reach at most result ${MAX_OFFSET}`),
    ["page"],
  ),
  v.forward(
    v.check((q) => !q.from || !q.to || q.from < q.to, "must not be before from"),
    ["to"],
  ),
);

const LicenseType = v.picklist(["standard", "enhanced", "editorial"]);
const Counts = v.record(v.string(), v.number());
const SearchResponseSchema = v.object({
  total: v.number(),
  results: v.array(
    v.object({
      id: s.uuid,
      title: v.string(),
      thumbnailUrl: v.nullable(v.string()),
      previewUrl: v.nullable(v.string()),
      contributor: v.object({ id: s.uuid, displayName: v.string() }),
      tags: v.array(v.string()),
      width: v.nullable(v.number()),
      height: v.nullable(v.number()),
      prices: v.array(v.object({ licenseType: LicenseType, amountCents: v.number(), currency: v.string() })),
      score: v.number(),
    }),
  ),
  facets: v.object({ categories: Counts, orientations: Counts, colours: Counts, licenseTypes: Counts }),
  mode: v.picklist(["keyword", "semantic", "hybrid", "browse"]),
  degraded: v.array(v.picklist(["semantic", "cache"])),
  suggestion: v.nullable(v.string()),
  nextCursor: v.nullable(v.string()),
});

/**
 * Applies {@link SEARCH_LIMITS} (429 when over). A failing store (Upstash down) must not take search
 * with it: the limits are skipped and this returns false, so the response can say the cache is degraded.
 */
async function applySearchLimits(c: Context<AppEnv>): Promise<boolean> {
  let storeOk = true;
  for (const rule of [SEARCH_LIMITS.perIp, SEARCH_LIMITS.perApiKey]) {
    try {
      await checkRateLimit(c, rule);
    } catch (error) {
      if (error instanceof ApiError) throw error;
      storeOk = false;
    }
  }
  return storeOk;
}

/** Public image search: keyword, semantic (CLIP) or hybrid ranking with filters and facets; autocomplete. */
export const searchRoutes = new Hono<AppEnv>()
  .get(
    "/",
    spec({
      summary: "Search approved images by keywords and meaning, with filters and facets",
      description:
        "Modes: keyword (Postgres full-text search with synonyms; quoted phrases, `or`, `-exclusions`), semantic (CLIP " +
        "text embedding against image embeddings) and hybrid (both, fused by reciprocal rank). Without an embedding " +
        "service the search answers in keyword mode and lists `semantic` in `degraded`. Facets count the whole filtered " +
        "result set. Responses are cached for 60 s (`X-Cache: hit|miss`). Limits: 120 requests a minute per IP, 600 " +
        "per API key.",
      tags: ["search"],
      access: "public",
      apiKeyScope: "search:read",
      responses: {
        200: { description: "A page of results with facets", schema: SearchResponseSchema },
        429: { description: "Rate limited; see Retry-After" },
        503: { description: "The database is unavailable" },
      },
    }),
    input("query", SearchQuery),
    async (c) => {
      const principal = c.var.principal;
      const storeDegraded = !(await applySearchLimits(c));
      const { config } = c.var;
      const store = openStore(config);

      const query = c.req.valid("query");
      const request: Omit<SearchRequest, "offset"> = {
        q: query.q,
        mode: query.mode,
        sort: query.sort,
        perPage: query.perPage,
        filters: {
          category: query.category,
          orientation: query.orientation,
          colour: query.colour,
          contributorId: query.contributor,
          license: query.license,
          minWidth: query.minWidth,
          minHeight: query.minHeight,
          publishedFrom: query.from,
          publishedBefore: query.to,
          safe: query.safe,
        },
      };
      const offset = query.cursor ? await decodeSearchCursor(request, query.cursor) : ((query.page ?? 1) - 1) * query.perPage;
      const base = config.DERIVATIVES_PUBLIC_URL.replace(/\/+$/, "");
      const { response, cache } = await cachedSearch(
        {
          db: c.var.dbHttp,
          embed: async (text) => (await embedQuery({ config, store }, text)).embedding,
          publicUrl: (key) => `${base}/${key}`,
          store,
          modelId: config.CLIP_MODEL_ID,
          storeDegraded,
          fresh: /\bno-cache\b/i.test(c.req.header("cache-control") ?? ""),
        },
        { ...request, offset },
      );
      // Popular-query suggestions learn from searches that found something, counting each searcher once.
      if (request.q.trim() && response.total > 0) {
        const searcher = principal ? (principal.kind === "api_key" ? `key:${principal.apiKeyId}` : `user:${principal.userId}`) : `ip:${clientIp(c)}`;
        const recording = recordQuery({ db: c.var.dbHttp, store, secret: config.JWT_PRIVATE_KEY }, request.q, searcher);
        try {
          c.executionCtx.waitUntil(recording);
        } catch {
          await recording; // no execution context (app.request() in a test)
        }
      }
      const maxAge = response.degraded.length > 0 ? 10 : 60;
      return c.json(response, 200, {
        "x-cache": cache,
        "cache-control": principal ? "private, no-store" : `public, max-age=${maxAge}`,
      });
    },
  )
  .get(
    "/suggest",
    spec({
      summary: "Autocomplete: tags that start with what was typed (the closest tags when none do) and popular searches",
      tags: ["search"],
      access: "public",
      apiKeyScope: "search:read",
      responses: {
        200: {
          description: "Up to `limit` tags, most used first",
          schema: v.object({
            suggestions: v.array(v.object({ tag: v.string(), images: v.number() })),
            queries: v.array(v.object({ query: v.string(), searches: v.number() })),
          }),
        },
        429: { description: "Rate limited; see Retry-After" },
      },
    }),
    input("query", v.strictObject({ q: s.text(50), limit: v.optional(count(20), "8") })),
    async (c) => {
      await applySearchLimits(c);
      const { q, limit } = c.req.valid("query");
      return c.json(await suggestTags(c.var.dbHttp, q, limit), 200, { "cache-control": c.var.principal ? "private, no-store" : "public, max-age=300" });
    },
  )
  .post(
    "/by-image",
    spec({
      summary: "Search by image: upload a picture (not stored) and get visually similar approved images",
      description: `The body is the image itself (${BY_IMAGE_TYPES.join(", ")}; at most ${BY_IMAGE_MAX_BYTES} bytes). Filters as in GET /v1/search.`,
      tags: ["search"],
      access: "public",
      apiKeyScope: "search:read",
      responses: {
        200: { description: "A page of visually similar images with facets", schema: SearchResponseSchema },
        413: { description: "The image is too large" },
        415: { description: "Not an accepted image type" },
        422: { description: "The image could not be read" },
        503: { description: "Image search is unavailable (no embedding service)" },
      },
    }),
    input("query", v.strictObject({ category: SearchQueryFields.category, orientation: SearchQueryFields.orientation, safe: SearchQueryFields.safe, perPage: SearchQueryFields.perPage })),
    bodyLimit({
      maxSize: BY_IMAGE_MAX_BYTES,
      onError: () => {
        throw new ApiError("payload-too-large", `images are limited to ${BY_IMAGE_MAX_BYTES} bytes`, { maxBytes: BY_IMAGE_MAX_BYTES });
      },
    }),
    async (c) => {
      await applySearchLimits(c);
      const contentType = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
      if (!(BY_IMAGE_TYPES as readonly string[]).includes(contentType)) {
        throw new ApiError("unsupported-media-type", `send the image as one of ${BY_IMAGE_TYPES.join(", ")}`, { accepted: BY_IMAGE_TYPES });
      }
      const bytes = await c.req.arrayBuffer();
      if (bytes.byteLength === 0) throw new ApiError("validation-failed", "the body is empty", { errors: [{ path: "", message: "send an image" }] });
      let embedding: number[];
      try {
        embedding = await embedImageQuery({ config: c.var.config }, bytes, contentType);
      } catch (error) {
        if (error instanceof EmbeddingRefused) throw new ApiError("validation-failed", error.message, { errors: [{ path: "", message: "not a readable image" }] });
        throw new ApiError("service-unavailable", "image search is unavailable right now (no embedding service)");
      }
      const query = c.req.valid("query");
      const base = c.var.config.DERIVATIVES_PUBLIC_URL.replace(/\/+$/, "");
      const response = await searchImages(
        { db: c.var.dbHttp, embed: async () => embedding, publicUrl: (key) => `${base}/${key}` },
        {
          q: "",
          embedding,
          mode: "semantic",
          sort: "relevance",
          perPage: query.perPage,
          offset: 0,
          filters: { safe: query.safe, ...(query.category ? { category: query.category } : {}), ...(query.orientation ? { orientation: query.orientation } : {}) },
        },
      );
      return c.json(response, 200, { "cache-control": "private, no-store" });
    },
  );
