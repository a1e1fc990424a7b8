import * as v from "valibot";
import type { HttpDatabase } from "../../../db/connect";
import { EMBEDDING_DIMENSIONS } from "../../../db/schema";
import { base64url, fromBase64url, sha256Hex } from "../../lib/crypto";
import { ApiError } from "../../lib/problem";
import type { Store } from "../../adapters/store";
import { normaliseQuery } from "../../adapters/embed-service";
import {
  type Retrieval,
  type SearchFilters,
  type SearchRow,
  type SearchSort,
  searchStatement,
  suggestionStatement,
  tagSuggestionStatement,
  fuzzyTagSuggestionStatement,
  popularQuerySuggestionStatement,
  recordQueryStatement,
  recordSearcherStatement,
} from "./search-sql";

export type SearchMode = "keyword" | "semantic" | "hybrid";

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
  /** c.var.dbHttp in the route: each search is one statement, so one HTTP round trip. */
  db: HttpDatabase;
  embed: Embed;
  /** Public URL of a derivative object key. */
  publicUrl: (key: string) => string;
  now?: () => Date;
  /** Longest wait for the query embedding before falling back to keywords. */
  embedBudgetMs?: number;
};

export type SearchResult = {
  id: string;
  title: string;
  thumbnailUrl: string | null;
  previewUrl: string | null;
  contributor: { id: string; displayName: string };
  tags: string[];
  width: number | null;
  height: number | null;
  prices: { licenseType: "standard" | "enhanced" | "editorial"; amountCents: number; currency: string }[];
  score: number;
};

export type SearchResponse = {
  total: number;
  results: SearchResult[];
  facets: {
    categories: Record<string, number>;
    orientations: Record<string, number>;
    colours: Record<string, number>;
    licenseTypes: Record<"standard" | "enhanced" | "editorial", number>;
  };
  /** The mode that produced the results: `browse` when there is no query text. */
  mode: SearchMode | "browse";
  /** Dependencies that were unavailable: `semantic` (embedding service), `cache` (the store). */
  degraded: ("semantic" | "cache")[];
  suggestion: string | null;
  nextCursor: string | null;
};

/** Below this many results a keyword or hybrid search looks for a "did you mean" suggestion. */
export const SUGGEST_BELOW = 5;
/** Deepest result a page or cursor may reach: deep offsets cost a scan of everything before them. */
export const MAX_OFFSET = 10_000;
/** How long search responses are cached; degraded ones expire sooner so recovery shows quickly. */
export const SEARCH_CACHE_TTL_MS = 60_000;
export const DEGRADED_CACHE_TTL_MS = 10_000;
const EMBED_BUDGET_MS = 200;
const DAY_MS = 86_400_000;

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
  return `search:v1:${modelId || "none"}:${catalogueVersion}:${await sha256Hex(`${canonicalQuery(request)}|${request.offset}`)}`;
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
export async function catalogueChanged(store: Pick<Store, "incrementAndGet">): Promise<void> {
  try {
    await store.incrementAndGet(CATALOGUE_VERSION_KEY, CATALOGUE_VERSION_TTL_MS, CATALOGUE_VERSION_KEY);
  } catch (error) {
    console.error(JSON.stringify({ level: "error", msg: "could not retire cached searches", error: (error as Error).message }));
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

async function query<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ApiError || !isDatabaseUnavailable(error)) throw error;
    console.error(JSON.stringify({ level: "error", msg: "search: database unavailable", error: error instanceof Error ? error.message : String(error) }));
    throw new ApiError("service-unavailable", "search is unavailable: the database cannot be reached");
  }
}

async function embedWithin(embed: Embed, text: string, budgetMs: number): Promise<number[] | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const embedding = await Promise.race([
      embed(text),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no embedding within ${budgetMs} ms`)), budgetMs);
      }),
    ]);
    if (embedding.length !== EMBEDDING_DIMENSIONS || !embedding.every(Number.isFinite)) {
      throw new Error(`the embedding has ${embedding.length} dimensions, not ${EMBEDDING_DIMENSIONS} finite numbers`);
    }
    return embedding;
  } catch (error) {
    console.warn(JSON.stringify({ level: "warn", msg: "search: semantic ranking unavailable", error: error instanceof Error ? error.message : String(error) }));
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
  if (request.embedding) retrieval = { kind: "semantic", embedding: request.embedding };
  else if (text && request.mode !== "keyword") {
    const embedding = await embedWithin(deps.embed, text, deps.embedBudgetMs ?? EMBED_BUDGET_MS);
    if (embedding) retrieval = request.mode === "semantic" ? { kind: "semantic", embedding } : { kind: "hybrid", query: text, embedding };
    else degraded.push("semantic");
  }

  const now = (deps.now ?? (() => new Date()))();
  const statement = searchStatement({
    retrieval,
    filters: request.filters,
    sort: request.sort,
    limit: request.perPage + 1,
    offset: request.offset,
    // Day-rounded, so the recency boost (and the order) does not move between one page and the next.
    now: new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS),
  });
  // One round trip in every mode: pgvector's settings for the vector kinds (ef_search, iterative
  // scans) are the database's defaults (migration 0006), so no transaction sets them.
  const row = await query(async () => (await deps.db.execute<SearchRow>(statement)).rows[0]);
  if (!row) throw new Error("the search statement returned no row");

  const hasMore = row.results.length > request.perPage;
  const page = row.results.slice(0, request.perPage);
  const nextOffset = request.offset + request.perPage;
  const suggestion = text && retrieval.kind !== "semantic" && row.total < SUGGEST_BELOW ? await query(() => didYouMean(deps.db, text, request.filters.safe)) : null;
  const url = (key: string | undefined) => (key ? deps.publicUrl(key) : null);
  return {
    total: row.total,
    results: page.map((r) => ({
      id: r.id,
      title: r.title,
      thumbnailUrl: url(r.derivativeKeys?.thumb450 ?? r.derivativeKeys?.thumb150),
      previewUrl: url(r.derivativeKeys?.preview),
      contributor: { id: r.contributorId, displayName: r.displayName },
      tags: r.tags,
      width: r.width,
      height: r.height,
      prices: r.prices,
      score: r.score,
    })),
    facets: { categories: row.categories, orientations: row.orientations, colours: row.colours, licenseTypes: row.license_types },
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
export async function suggestTags(db: HttpDatabase, prefix: string, limit: number): Promise<Suggestions> {
  const [tags, popular] = await query(() =>
    Promise.all([
      db.execute<{ tag: string; images: number }>(tagSuggestionStatement(prefix, limit)),
      db.execute<{ query: string; searches: number }>(popularQuerySuggestionStatement(normaliseQuery(prefix), limit)),
    ]),
  );
  let suggestions = tags.rows.map((row) => ({ tag: row.tag, images: row.images }));
  // Nothing starts with it: probably a typo; offer the closest tags instead.
  if (suggestions.length === 0 && prefix.trim().length >= 3) {
    const { rows } = await query(() => db.execute<{ tag: string; images: number }>(fuzzyTagSuggestionStatement(prefix.trim(), limit)));
    suggestions = rows.map((row) => ({ tag: row.tag, images: row.images }));
  }
  return { suggestions, queries: popular.rows.map((row) => ({ query: row.query, searches: row.searches })) };
}

export type Suggestions = { suggestions: { tag: string; images: number }[]; queries: { query: string; searches: number }[] };

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
export async function recordQuery(deps: { db: HttpDatabase; store: Pick<Store, "incrementAndGet">; secret: string }, text: string, searcherId: string): Promise<void> {
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
    console.error(JSON.stringify({ level: "error", msg: "recording a search query failed", error: (error as Error).message }));
  }
}
