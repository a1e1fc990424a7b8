import { type Context, Hono } from "hono";
import { MAX_QUERY_IMAGE_BYTES } from "../../common/embed-service";
import type { AppEnv } from "../env";
import { ApiError } from "../lib/problem";
import { background, input, spec } from "../lib/route";
import { queryImageBodyLimit } from "../middleware/body-limit";
import { checkRateLimit, clientIp, SEARCH_LIMITS } from "../middleware/rate-limit";
import {
  ByImageQuerySchema,
  QUERY_IMAGE_TYPES,
  SearchQuerySchema,
  SearchResponseSchema,
  SuggestionsSchema,
  SuggestQuerySchema,
  searchByImage,
  searchCatalogue,
  searcherOf,
  suggestTags,
} from "../services/catalogue/search";

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
    input("query", SearchQuerySchema),
    async (c) => {
      const storeDegraded = !(await applySearchLimits(c));
      const { principal } = c.var;
      const { response, cache } = await searchCatalogue(
        { db: c.var.dbRead, primary: c.var.dbHttp, config: c.var.config, store: c.var.store, urls: c.var.urls, log: c.var.log, background: background(c) },
        c.req.valid("query"),
        { searcher: searcherOf(principal, clientIp(c)), storeDegraded, fresh: /\bno-cache\b/i.test(c.req.header("cache-control") ?? "") },
      );
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
        200: { description: "Up to `limit` tags, most used first", schema: SuggestionsSchema },
        429: { description: "Rate limited; see Retry-After" },
      },
    }),
    input("query", SuggestQuerySchema),
    async (c) => {
      await applySearchLimits(c);
      const { q, limit } = c.req.valid("query");
      return c.json(await suggestTags({ db: c.var.dbRead, log: c.var.log }, q, limit), 200, { "cache-control": c.var.principal ? "private, no-store" : "public, max-age=300" });
    },
  )
  .post(
    "/by-image",
    spec({
      summary: "Search by image: upload a picture (not stored) and get visually similar approved images",
      description: `The body is the image itself (${QUERY_IMAGE_TYPES.join(", ")}; at most ${MAX_QUERY_IMAGE_BYTES} bytes). Filters as in GET /v1/search.`,
      tags: ["search"],
      access: "public",
      apiKeyScope: "search:read",
      requestBody: {
        description: `The image, sent as the raw body with its own Content-Type (at most ${MAX_QUERY_IMAGE_BYTES} bytes)`,
        content: Object.fromEntries(QUERY_IMAGE_TYPES.map((type) => [type, { type: "string", format: "binary", maxLength: MAX_QUERY_IMAGE_BYTES }])),
      },
      responses: {
        200: { description: "A page of visually similar images with facets", schema: SearchResponseSchema },
        413: { description: "The image is too large" },
        415: { description: "Not an accepted image type" },
        422: { description: "The image could not be read" },
        503: { description: "Image search is unavailable (no embedding service)" },
      },
    }),
    input("query", ByImageQuerySchema),
    queryImageBodyLimit,
    async (c) => {
      await applySearchLimits(c);
      const contentType = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
      const response = await searchByImage(
        { db: c.var.dbRead, config: c.var.config, urls: c.var.urls, log: c.var.log },
        { bytes: await c.req.arrayBuffer(), contentType },
        c.req.valid("query"),
      );
      return c.json(response, 200, { "cache-control": "private, no-store" });
    },
  );
