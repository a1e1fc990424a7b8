import * as v from "valibot";
import { COLOUR_BUCKETS, type ColourBucket, colourBucket } from "../../../common/colours";
import type { Logger } from "../../../common/log";
import type { HttpDatabase } from "../../../db/connect";
import { activeModel, type SearchModel } from "../../../db/embedding-models";
import { licenseType } from "../../../db/schema";
import { EmbeddingRefused, embedImageQuery, embedQuery, normaliseQuery } from "../../adapters/embed-service";
import type { PublicUrls } from "../../adapters/public-urls";
import type { Store } from "../../adapters/store";
import type { Config } from "../../config";
import { base64url, fromBase64url, sha256Hex } from "../../lib/crypto";
import type { Principal } from "../../lib/principal";
import { ApiError } from "../../lib/problem";
import * as s from "../../lib/schemas";
import {
  type CatalogueFacts,
  catalogueFactsFrom,
  catalogueProbeStatement,
  fuzzyTagSuggestionStatement,
  popularQuerySuggestionStatement,
  type Retrieval,
  recordQueryStatement,
  recordSearcherStatement,
  type SearchFilters,
  type SearchRow,
  type SearchSort,
  searchStatement,
  suggestionStatement,
  tagSuggestionStatement,
} from "./search-sql";

export type SearchMode = "keyword" | "semantic" | "hybrid";

/** Deepest result a page or cursor may reach: deep offsets cost a scan of everything before them. */
export const MAX_OFFSET = 10_000;

const HEX = /^#?[0-9a-f]{6}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DAY_MS = 86_400_000;

const count = (max: number) => v.pipe(v.string(), v.regex(/^\d{1,6}$/, `must be a whole number from 1 to ${max}`), v.transform(Number), v.minValue(1), v.maxValue(max));

/** The search parameters of `GET /v1/search`, also used (in part) by search by image. */
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
  from: v.optional(
    v.pipe(
      s.instant,
      v.transform((t) => new Date(t)),
    ),
  ),
  /** Published on or before (a date includes the whole day, UTC). */
  to: v.optional(
    v.pipe(
      s.instant,
      v.transform((t) => new Date(Date.parse(t) + (DATE.test(t) ? DAY_MS : 1))),
    ),
  ),
  safe: v.optional(
    v.pipe(
      v.picklist(["true", "false"]),
      v.transform((b) => b === "true"),
    ),
    "true",
  ),
  sort: v.optional(v.picklist(["relevance", "newest", "popular"]), "relevance"),
  perPage: v.optional(count(100), "24"),
  page: v.optional(count(MAX_OFFSET)),
  cursor: s.pageQuery.cursor,
};

/** `GET /v1/search`'s query string. */
export const SearchQuerySchema = v.pipe(
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
export type SearchQuery = v.InferOutput<typeof SearchQuerySchema>;

/** `POST /v1/search/by-image`'s query string: the filters that apply to a picture. */
export const ByImageQuerySchema = v.strictObject({
  category: SearchQueryFields.category,
  orientation: SearchQueryFields.orientation,
  safe: SearchQueryFields.safe,
  perPage: SearchQueryFields.perPage,
});
export type ByImageQuery = v.InferOutput<typeof ByImageQuerySchema>;

/** `GET /v1/search/suggest`'s query string. */
export const SuggestQuerySchema = v.strictObject({ q: s.text(50), limit: v.optional(count(20), "8") });

/** A validated search request (the route's query string, parsed). */
export type SearchRequest = {
  q: string;
  /** Search by image: the uploaded image's CLIP embedding; the search is then semantic on it alone. */
  embedding?: number[];
  mode: SearchMode;
  filters: SearchFilters;
  sort: SearchSort;
  perPage: number;
  offset: number;
};

/** A function from query text to its CLIP text embedding; throws when none can be had in time. */
export type Embed = (query: string) => Promise<number[]>;

export type SearchDeps = {
  /** c.var.dbRead in the route: each search is one statement, so one HTTP round trip (to the read replica if any). */
  db: HttpDatabase;
  /**
   * The CLIP model whose vectors the search reads ({@link searchModel}): `embed` and a by-image
   * embedding come from it. Null before any model is registered: text searches are keyword only.
   */
  model: SearchModel | null;
  embed: Embed;
  urls: Pick<PublicUrls, "rendition">;
  log: Logger;
  now?: () => Date;
  /** Longest wait for the query embedding before falling back to keywords. */
  embedBudgetMs?: number;
};

const LicenseTypeSchema = v.picklist(licenseType.enumValues);
const Counts = v.record(v.string(), v.number());

/** A search's answer (`GET /v1/search` and `POST /v1/search/by-image`). */
export const SearchResponseSchema = v.object({
  total: v.number(),
  /**
   * The total and the facet counts are estimates, to two significant figures: a browse or keyword
   * search matching more than 10,000 images on a large catalogue counts a sample of it.
   */
  approximate: v.boolean(),
  results: v.array(
    v.object({
      id: s.uuid,
      title: v.string(),
      thumbnailUrl: v.nullable(v.string()),
      previewUrl: v.nullable(v.string()),
      /** The dominant colour (`#rrggbb`), a placeholder while the thumbnail loads; null when not analysed. */
      colour: v.nullable(v.string()),
      contributor: v.object({ id: s.uuid, displayName: v.string() }),
      tags: v.array(v.string()),
      width: v.nullable(v.number()),
      height: v.nullable(v.number()),
      prices: v.array(v.object({ licenseType: LicenseTypeSchema, amountCents: v.number(), currency: v.string() })),
      score: v.number(),
    }),
  ),
  facets: v.object({
    categories: Counts,
    orientations: Counts,
    colours: Counts,
    licenseTypes: Counts,
    /** The contributors with most matching images (at most 10), most first. */
    contributors: v.array(v.object({ id: s.uuid, displayName: v.string(), images: v.number() })),
  }),
  /** The mode that produced the results: `browse` when there is no query text. */
  mode: v.picklist(["keyword", "semantic", "hybrid", "browse"]),
  /** Dependencies that were unavailable: `semantic` (embedding service), `cache` (the store). */
  degraded: v.array(v.picklist(["semantic", "cache"])),
  suggestion: v.nullable(v.string()),
  nextCursor: v.nullable(v.string()),
});
export type SearchResponse = v.InferOutput<typeof SearchResponseSchema>;

/** Below this many results a keyword or hybrid search looks for a "did you mean" suggestion. */
export const SUGGEST_BELOW = 5;
/** How long search responses are cached; degraded ones expire sooner so recovery shows quickly. */
export const SEARCH_CACHE_TTL_MS = 60_000;
export const DEGRADED_CACHE_TTL_MS = 10_000;
const EMBED_BUDGET_MS = 200;

/** The request as the cache and cursors see it: the normalised query and every parameter but the position. */
function canonicalQuery(request: SearchRequest): string {
  const { filters } = request;
  return JSON.stringify([
    normaliseQuery(request.q),
    request.mode,
    request.sort,
    request.perPage,
    filters.category ?? null,
    filters.orientation ?? null,
    filters.colour ?? null,
    filters.contributorId ?? null,
    filters.license ?? null,
    filters.minWidth ?? null,
    filters.minHeight ?? null,
    filters.publishedFrom?.toISOString() ?? null,
    filters.publishedBefore?.toISOString() ?? null,
    filters.safe,
  ]);
}

const CursorSchema = v.object({ o: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_OFFSET)), f: v.string() });

/** Opaque cursor: the next offset and a fingerprint of the query it belongs to. */
async function encodeSearchCursor(request: SearchRequest, offset: number): Promise<string> {
  const f = (await sha256Hex(canonicalQuery(request))).slice(0, 16);
  return base64url(new TextEncoder().encode(JSON.stringify({ o: offset, f })));
}

/** The offset a cursor points at; a cursor from another query (or not from this API) is a 422. */
export async function decodeSearchCursor(request: Omit<SearchRequest, "offset">, cursor: string): Promise<number> {
  const refuse = () => new ApiError("validation-failed", "cursor is not one this search returned", { errors: [{ path: "cursor", message: "invalid cursor" }] });
  let parsed: v.InferOutput<typeof CursorSchema>;
  try {
    parsed = v.parse(CursorSchema, JSON.parse(new TextDecoder().decode(fromBase64url(cursor))));
  } catch {
    throw refuse();
  }
  if (parsed.f !== (await sha256Hex(canonicalQuery({ ...request, offset: 0 }))).slice(0, 16)) throw refuse();
  return parsed.o;
}

/** Store key of a search response: the model (semantic results depend on it) and the whole request. */
export async function searchCacheKey(request: SearchRequest, modelId: string, catalogueVersion = "0"): Promise<string> {
  return `search:v2:${modelId || "none"}:${catalogueVersion}:${await sha256Hex(`${canonicalQuery(request)}|${request.offset}`)}`;
}

/** The store key of the catalogue version: part of every cached search's key, so a bump retires them all. */
const CATALOGUE_VERSION_KEY = "catalogue:version";
/** Cached searches live 60 s; the version only has to outlive them (a reset after 30 idle days is harmless). */
const CATALOGUE_VERSION_TTL_MS = 30 * 86_400_000;

/**
 * Retires every cached search at once: called whenever an image enters or leaves the catalogue
 * (approval, rejection, takedown, withdrawal, an edit of its listing). A store failure is logged,
 * never thrown: the change itself has committed, and cached entries expire within 60 s anyway.
 */
export async function catalogueChanged(deps: { store: Pick<Store, "incrementAndGet">; log: Logger }): Promise<void> {
  try {
    await deps.store.incrementAndGet(CATALOGUE_VERSION_KEY, CATALOGUE_VERSION_TTL_MS, CATALOGUE_VERSION_KEY);
  } catch (error) {
    deps.log.error("could not retire cached searches", { error: (error as Error).message });
  }
}

/**
 * Connection failures (no SQLSTATE anywhere in the cause chain, or classes 08 connection, 53
 * resources, 57 operator intervention) mean the database is unavailable: a 503. Any other
 * database error is a bug and stays a 500.
 */
function isDatabaseUnavailable(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return /^(08|53|57)/.test(code);
  }
  return true;
}

async function query<T>(log: Logger, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ApiError || !isDatabaseUnavailable(error)) throw error;
    log.error("search: database unavailable", { error: error instanceof Error ? error.message : String(error) });
    throw new ApiError("service-unavailable", "search is unavailable: the database cannot be reached");
  }
}

async function embedWithin(log: Logger, embed: Embed, text: string, budgetMs: number, dimensions: number): Promise<number[] | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const embedding = await Promise.race([
      embed(text),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no embedding within ${budgetMs} ms`)), budgetMs);
      }),
    ]);
    if (embedding.length !== dimensions || !embedding.every(Number.isFinite)) {
      throw new Error(`the embedding has ${embedding.length} dimensions, not ${dimensions} finite numbers`);
    }
    return embedding;
  } catch (error) {
    log.warn("search: semantic ranking unavailable", { error: error instanceof Error ? error.message : String(error) });
    return null;
  } finally {
    clearTimeout(timer);
  }
}

/** Words worth correcting: plain (not excluded) words of three letters or more. */
function suggestableWords(q: string): string[] {
  return [...q.toLowerCase().matchAll(/(^|\s)([\p{L}\p{N}]{3,})(?=\s|$)/gu)].map((m) => m[2] ?? "").slice(0, 8);
}

/** The query with each word replaced by its closest tag of an image the search could show (safe search's too), or null when nothing changes. */
async function didYouMean(db: HttpDatabase, q: string, safe: boolean): Promise<string | null> {
  const words = suggestableWords(q.replace(/"[^"]*"/g, " "));
  if (words.length === 0) return null;
  const { rows } = await db.execute<{ word: string; tag: string | null }>(suggestionStatement(words, safe));
  let changed = false;
  const corrected = rows.map((row) => {
    if (row.tag && row.tag !== row.word) changed = true;
    return row.tag ?? row.word;
  });
  return changed ? corrected.join(" ") : null;
}

/** How long an isolate trusts what it knows of the catalogue (a migration may add the RUM index; the catalogue grows). */
const CATALOGUE_PROBE_TTL_MS = 10 * 60_000;
let catalogueProbe: (CatalogueFacts & { checkedAt: number }) | undefined;

/**
 * Whether the database has the RUM index (migration 0010 builds it where the rum extension exists),
 * about how many rows `images` holds (which decides exact or sampled counting) and its common
 * lexemes (which bound the ranking of a search of common words): asked once per
 * isolate every {@link CATALOGUE_PROBE_TTL_MS}. A failed probe counts as neither (the GIN path and
 * exact counts work everywhere) and is asked again next time.
 */
async function catalogueFacts(db: HttpDatabase, log: Logger, now: number): Promise<CatalogueFacts> {
  if (catalogueProbe && now - catalogueProbe.checkedAt < CATALOGUE_PROBE_TTL_MS) return catalogueProbe;
  try {
    const { rows } = await db.execute(catalogueProbeStatement());
    catalogueProbe = { ...catalogueFactsFrom(rows[0]), checkedAt: now };
    return catalogueProbe;
  } catch (error) {
    log.warn("could not look up the catalogue's size and RUM index; counting and ranking every match", { error: (error as Error).message });
    return { rumIndex: false, catalogueRows: null, commonLexemes: [] };
  }
}

/**
 * How long an isolate trusts its idea of the model search reads: well under the time a retired
 * model's vectors are kept after a switch (db/embedding-models.ts RETIRED_GRACE_MS), so a search
 * never reads a model whose vectors are gone.
 */
const SEARCH_MODEL_TTL_MS = 30_000;
let searchModelProbe: { model: SearchModel | null; checkedAt: number } | undefined;

/**
 * The CLIP model search reads (embedding_models' active row, db/embedding-models.ts), asked once per
 * isolate every {@link SEARCH_MODEL_TTL_MS}. Every semantic leg of one search uses this one model:
 * the query's embedding is asked of the embedding service by its name and checked against it. A
 * failed lookup counts as no model (keyword search) and is asked again next time.
 */
export async function searchModel(db: HttpDatabase, log: Logger, now = Date.now()): Promise<SearchModel | null> {
  // "No model yet" is asked again sooner: the first worker's model should serve searches at once.
  const ttl = searchModelProbe?.model ? SEARCH_MODEL_TTL_MS : SEARCH_MODEL_TTL_MS / 6;
  if (searchModelProbe && now - searchModelProbe.checkedAt < ttl) return searchModelProbe.model;
  try {
    const model = await activeModel(db);
    searchModelProbe = { model, checkedAt: now };
    return model;
  } catch (error) {
    log.warn("could not look up the CLIP model search reads; searching by keywords", { error: (error as Error).message });
    return null;
  }
}

/**
 * A count for people when it is an estimate: two significant figures (273,393 → 270,000), so it
 * does not pretend to a precision it lacks.
 */
export function roughly(n: number): number {
  if (n < 100) return n;
  const unit = 10 ** (Math.floor(Math.log10(n)) - 1);
  return Math.round(n / unit) * unit;
}

/**
 * Runs a search: picks the retrieval (browse without text; keyword; semantic and hybrid need the
 * query embedding, and fall back to keyword with `degraded: ["semantic"]` when it cannot be had
 * within the budget), runs the one search statement, and adds a suggestion when a text search finds
 * little. Nearest-neighbour statements rely on the database's pgvector defaults (migration 0006):
 * iterative index scans, so a selective filter still fills the page.
 */
export async function searchImages(deps: SearchDeps, request: SearchRequest): Promise<SearchResponse> {
  const text = request.q.trim();
  const degraded: SearchResponse["degraded"] = [];
  let retrieval: Retrieval = text ? { kind: "keyword", query: text } : { kind: "browse" };
  const model = deps.model;
  if (request.embedding) {
    if (!model || request.embedding.length !== model.dimensions) throw new Error("a by-image search needs the embedding of the model search reads");
    retrieval = { kind: "semantic", embedding: request.embedding, model };
  } else if (text && request.mode !== "keyword") {
    const embedding = model ? await embedWithin(deps.log, deps.embed, text, deps.embedBudgetMs ?? EMBED_BUDGET_MS, model.dimensions) : null;
    if (embedding && model) retrieval = request.mode === "semantic" ? { kind: "semantic", embedding, model } : { kind: "hybrid", query: text, embedding, model };
    else degraded.push("semantic");
  }

  const now = (deps.now ?? (() => new Date()))();
  // Semantic search counts only its nearest neighbours: nothing to learn about the catalogue.
  const facts = retrieval.kind === "semantic" ? null : await catalogueFacts(deps.db, deps.log, Date.now());
  const statement = searchStatement({
    retrieval,
    rumIndex: facts?.rumIndex ?? false,
    catalogueRows: facts?.catalogueRows ?? undefined,
    commonLexemes: facts?.commonLexemes,
    filters: request.filters,
    sort: request.sort,
    limit: request.perPage + 1,
    offset: request.offset,
    // Day-rounded, so the recency boost (and the order) does not move between one page and the next.
    now: new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS),
  });
  // One round trip in every mode: pgvector's settings for the vector kinds (ef_search, iterative
  // scans) are the database's defaults (migration 0006), so no transaction sets them.
  const row = await query(deps.log, async () => (await deps.db.execute<SearchRow>(statement)).rows[0]);
  if (!row) throw new Error("the search statement returned no row");

  const hasMore = row.results.length > request.perPage;
  const page = row.results.slice(0, request.perPage);
  const nextOffset = request.offset + request.perPage;
  const suggestion = text && retrieval.kind !== "semantic" && row.total < SUGGEST_BELOW ? await query(deps.log, () => didYouMean(deps.db, text, request.filters.safe)) : null;
  const url = (key: string | undefined) => (key ? deps.urls.rendition(key) : null);
  const count = (n: number) => (row.approximate ? roughly(n) : n);
  const counts = (record: Record<string, number>) => Object.fromEntries(Object.entries(record).map(([key, n]) => [key, count(n)]));
  return {
    total: count(row.total),
    approximate: row.approximate,
    results: page.map((r) => ({
      id: r.id,
      title: r.title,
      thumbnailUrl: url(r.derivativeKeys?.thumb450 ?? r.derivativeKeys?.thumb150),
      previewUrl: url(r.derivativeKeys?.preview),
      colour: r.colour && /^#[0-9a-f]{6}$/i.test(r.colour) ? r.colour : null,
      contributor: { id: r.contributorId, displayName: r.displayName },
      tags: r.tags,
      width: r.width,
      height: r.height,
      prices: r.prices,
      score: r.score,
    })),
    facets: {
      categories: counts(row.categories),
      orientations: counts(row.orientations),
      colours: counts(row.colours),
      licenseTypes: counts(row.license_types),
      contributors: row.contributors.map((c) => ({ ...c, images: count(c.images) })),
    },
    mode: retrieval.kind === "browse" ? "browse" : retrieval.kind,
    degraded,
    suggestion,
    nextCursor: hasMore && nextOffset <= MAX_OFFSET ? await encodeSearchCursor(request, nextOffset) : null,
  };
}

/**
 * {@link searchImages} behind the store: a response is kept for 60 s (10 s when degraded) under
 * the normalised request, the model id and the catalogue version ({@link catalogueChanged}). A failing store never fails the search: the response is
 * computed uncached and says `degraded: ["cache"]`. A request with `Cache-Control: no-cache` skips
 * the read (as HTTP intends) and stores what it computed.
 */
export async function cachedSearch(
  deps: SearchDeps & { store: Pick<Store, "get" | "set">; modelId: string; storeDegraded?: boolean; fresh?: boolean },
  request: SearchRequest,
): Promise<{ response: SearchResponse; cache: "hit" | "miss" | "unavailable" }> {
  let storeOk = !deps.storeDegraded;
  let version = "0";
  if (storeOk) {
    try {
      version = (await deps.store.get(CATALOGUE_VERSION_KEY)) ?? "0";
    } catch {
      storeOk = false;
    }
  }
  const key = await searchCacheKey(request, deps.modelId, version);
  // `fresh` (the client sent Cache-Control: no-cache): compute anew, then refresh the entry.
  if (storeOk && !deps.fresh) {
    try {
      const hit = await deps.store.get(key);
      if (hit) return { response: JSON.parse(hit) as SearchResponse, cache: "hit" };
    } catch {
      storeOk = false;
    }
  }
  const response = await searchImages(deps, request);
  if (storeOk) {
    const ttl = response.degraded.length > 0 ? DEGRADED_CACHE_TTL_MS : SEARCH_CACHE_TTL_MS;
    try {
      await deps.store.set(key, JSON.stringify(response), ttl);
    } catch {
      storeOk = false;
    }
  }
  if (!storeOk) response.degraded.push("cache");
  return { response, cache: storeOk ? "miss" : "unavailable" };
}

/** Tags of visible, safe images that start with `prefix`, most used first, for a search box's autocomplete. */
export async function suggestTags(deps: { db: HttpDatabase; log: Logger }, prefix: string, limit: number): Promise<Suggestions> {
  const { db, log } = deps;
  const [tags, popular] = await query(log, () =>
    Promise.all([
      db.execute<{ tag: string; images: number }>(tagSuggestionStatement(prefix, limit)),
      db.execute<{ query: string; searches: number }>(popularQuerySuggestionStatement(normaliseQuery(prefix), limit)),
    ]),
  );
  let suggestions = tags.rows.map((row) => ({ tag: row.tag, images: row.images }));
  // Nothing starts with it: probably a typo; offer the closest tags instead.
  if (suggestions.length === 0 && prefix.trim().length >= 3) {
    const { rows } = await query(log, () => db.execute<{ tag: string; images: number }>(fuzzyTagSuggestionStatement(prefix.trim(), limit)));
    suggestions = rows.map((row) => ({ tag: row.tag, images: row.images }));
  }
  return { suggestions, queries: popular.rows.map((row) => ({ query: row.query, searches: row.searches })) };
}

/** `GET /v1/search/suggest`: tags that start with what was typed, and popular searches. */
export const SuggestionsSchema = v.object({
  suggestions: v.array(v.object({ tag: v.string(), images: v.number() })),
  queries: v.array(v.object({ query: v.string(), searches: v.number() })),
});
export type Suggestions = v.InferOutput<typeof SuggestionsSchema>;

/**
 * The text a search is remembered (and offered to others) under: NFKC, lower case, excluded words
 * (`-boat`) dropped, and of the rest only letters, digits, inner hyphens and apostrophes, single
 * spaces; at most 10 words and 100 characters. Null when nothing suggestible is left. Markup,
 * operators and quotes never reach a suggestion.
 */
export function suggestionText(q: string): string | null {
  const words = q
    .normalize("NFKC")
    .toLowerCase()
    .split(/\s+/)
    .filter((word) => word && !word.startsWith("-"))
    .flatMap((word) => word.replace(/[^\p{L}\p{N}'-]+/gu, " ").split(" "))
    .map((word) => word.replace(/^['-]+|['-]+$/g, ""))
    .filter(Boolean);
  if (words.length === 0 || words.length > 10) return null;
  const text = words.join(" ");
  return text.length <= 100 ? text : null;
}

/** How long one searcher's repeats of one query are counted once (the store remembers the pair). */
const SEARCHER_DEDUP_MS = 86_400_000;

/**
 * Counts a text search that found results, for popular-query suggestions, once per searcher and
 * day: the store remembers (query, searcher) so cache hits cost no database write, and the
 * database counts distinct searchers (a keyed hash of the user or API key, else the client IP).
 * Best effort: the caller hands it to waitUntil; a failure is logged, never surfaced.
 */
export async function recordQuery(deps: { db: HttpDatabase; store: Pick<Store, "incrementAndGet">; secret: string; log: Logger }, text: string, searcherId: string): Promise<void> {
  const normalised = suggestionText(text);
  if (!normalised) return;
  try {
    const searcher = await sha256Hex(`${deps.secret}|searcher|${searcherId}`);
    const pair = await sha256Hex(`${normalised}|${searcher}`);
    const { value } = await deps.store.incrementAndGet(`sq:${pair}`, SEARCHER_DEDUP_MS, `sq:${pair}`);
    if (value > 1) return;
    const { rows } = await deps.db.execute(recordQueryStatement(normalised));
    if (rows.length > 0) await deps.db.execute(recordSearcherStatement(normalised, searcher));
  } catch (error) {
    deps.log.error("recording a search query failed", { error: (error as Error).message });
  }
}

/** What a search from the API needs: the database, the embedding service, the store, the public URLs. */
export type CatalogueSearchDeps = {
  /** Where the search reads: c.var.dbRead (the read replica when there is one). */
  db: HttpDatabase;
  /** The primary, where the query is recorded for suggestions: c.var.dbHttp. */
  primary: HttpDatabase;
  config: Pick<Config, "JWT_PRIVATE_KEY" | "EMBED_SERVICE_URL" | "WORKER_SHARED_SECRET">;
  store: Store;
  urls: Pick<PublicUrls, "rendition">;
  log: Logger;
  /** Hands work that may finish after the response to the runtime (waitUntil); without it, the work is awaited. */
  background?: (work: Promise<void>) => void;
};

/**
 * Who a search is counted for in the popular-search suggestions, so each searcher counts once: the
 * API key, else the signed-in user, else the client's IP.
 */
export function searcherOf(principal: Principal | null, ip: string): string {
  if (!principal) return `ip:${ip}`;
  return principal.kind === "api_key" ? `key:${principal.apiKeyId}` : `user:${principal.userId}`;
}

/**
 * `GET /v1/search`: the query string as a search request (a cursor must belong to the same search),
 * answered through the cache ({@link cachedSearch}); a text search that found something is
 * remembered for popular-search suggestions, after the response.
 */
export async function searchCatalogue(
  deps: CatalogueSearchDeps,
  query: SearchQuery,
  options: { searcher: string; storeDegraded: boolean; fresh: boolean },
): Promise<{ response: SearchResponse; cache: "hit" | "miss" | "unavailable" }> {
  const { config, store } = deps;
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
  const model = query.q.trim() && query.mode !== "keyword" ? await searchModel(deps.db, deps.log) : null;
  const result = await cachedSearch(
    {
      db: deps.db,
      model,
      embed: async (text) => {
        if (!model) throw new Error("no CLIP model serves search");
        return (await embedQuery({ config, store }, text, model)).embedding;
      },
      urls: deps.urls,
      log: deps.log,
      store,
      modelId: model ? `${model.id}` : "",
      storeDegraded: options.storeDegraded,
      fresh: options.fresh,
    },
    { ...request, offset },
  );
  // Popular-query suggestions learn from searches that found something, counting each searcher once.
  if (request.q.trim() && result.response.total > 0) {
    const recording = recordQuery({ db: deps.primary, store, secret: config.JWT_PRIVATE_KEY, log: deps.log }, request.q, options.searcher);
    if (deps.background) deps.background(recording);
    else await recording;
  }
  return result;
}

/** Search by image: the picture types accepted (the embedding service decodes them; nothing is stored). */
export const QUERY_IMAGE_TYPES = ["image/jpeg", "image/png", "image/webp", "image/avif", "image/tiff"] as const;

/**
 * `POST /v1/search/by-image`: the picture's CLIP embedding from the embedding service, then a
 * semantic search on it alone with the few filters that apply. 415 for another type, 422 for an
 * empty or unreadable picture, 503 without an embedding service. Larger bodies than
 * MAX_QUERY_IMAGE_BYTES are refused before this (the route's body limit).
 */
export async function searchByImage(
  deps: Omit<CatalogueSearchDeps, "store" | "background" | "primary">,
  image: { bytes: ArrayBuffer; contentType: string },
  query: ByImageQuery,
): Promise<SearchResponse> {
  if (!(QUERY_IMAGE_TYPES as readonly string[]).includes(image.contentType)) {
    throw new ApiError("unsupported-media-type", `send the image as one of ${QUERY_IMAGE_TYPES.join(", ")}`, { accepted: QUERY_IMAGE_TYPES });
  }
  if (image.bytes.byteLength === 0) throw new ApiError("validation-failed", "the body is empty", { errors: [{ path: "", message: "send an image" }] });
  const model = await searchModel(deps.db, deps.log);
  if (!model) throw new ApiError("service-unavailable", "image search is unavailable right now (no CLIP model has embedded the catalogue yet)");
  let embedding: number[];
  try {
    embedding = await embedImageQuery({ config: deps.config }, image.bytes, image.contentType, model);
  } catch (error) {
    if (error instanceof EmbeddingRefused) throw new ApiError("validation-failed", error.message, { errors: [{ path: "", message: "not a readable image" }] });
    throw new ApiError("service-unavailable", "image search is unavailable right now (no embedding service)");
  }
  return searchImages(
    { db: deps.db, model, embed: async () => embedding, urls: deps.urls, log: deps.log },
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
}
