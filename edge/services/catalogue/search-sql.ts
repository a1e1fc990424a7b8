import { type SQL, sql } from "drizzle-orm";
import { listedSql, safeForSearchSql } from "../../../common/images";
import { modelIs, type SearchModel, vectorDistance } from "../../../db/embedding-models";
import { SYNONYM_GROUPS } from "../../data/synonyms";

/**
 * The SQL of image search, written once and shared by the route (edge/services/catalogue/search.ts) and the
 * search benchmark (scripts/bench/search/). Every value a caller supplies is a bound parameter:
 * user text reaches Postgres only as an argument of websearch_to_tsquery / plainto_tsquery /
 * phraseto_tsquery, never as SQL or tsquery syntax.
 *
 * Tables are named directly (`images i`) so each statement reads as the SQL it is; the plans are
 * reviewed in the comments beside each statement.
 */

/** Reciprocal Rank Fusion constant (Cormack et al. 2009): score = Σ 1 / (k + rank). */
export const RRF_K = 60;
/** How many results of each ranking the hybrid mode fuses. */
export const HYBRID_CANDIDATES = 100;
/**
 * How many nearest neighbours the semantic-only mode ranks (its result set). They are scored by
 * similarity, 1 − cosine distance / 2, so the boosts reorder close neighbours but cannot lift a
 * distant one (rank-based scores would hide how far apart two neighbours are).
 */
export const SEMANTIC_POOL = 200;
/** Hybrid results scoring below this fraction of the best one are dropped (an unrelated tail). */
export const HYBRID_CUTOFF = 0.3;
/** ts_rank weights for the tsvector's D, C, B, A labels (description C, tags B, title A). */
export const RANK_WEIGHTS = "{0.1, 0.2, 0.4, 1.0}";
/**
 * Business boosts: popularity weight, recency weight and the recency decay (days). Rank-based
 * scores near the top differ by under 2% a place (1/61 vs 1/62), so these stay small: 1,000 sales
 * are worth about 7%, a new image 3%, a few places at most; never enough to lift an unrelated image.
 */
export const POPULARITY_WEIGHT = 0.01;
export const RECENCY_WEIGHT = 0.03;
export const RECENCY_DECAY_DAYS = 180;

export type Orientation = "landscape" | "portrait" | "square";
export type LicenseFilter = "standard" | "enhanced" | "editorial";
export type SearchSort = "relevance" | "newest" | "popular";

export type SearchFilters = {
  category?: string;
  orientation?: Orientation;
  /** A colour facet bucket (see common/colours.ts). */
  colour?: string;
  contributorId?: string;
  /** Editorial images can only be licensed editorially; standard and enhanced need a non-editorial image. */
  license?: LicenseFilter;
  minWidth?: number;
  minHeight?: number;
  /** published_at >= publishedFrom */
  publishedFrom?: Date;
  /** published_at < publishedBefore */
  publishedBefore?: Date;
  /** Only images with a known NSFW score below NSFW_THRESHOLD (common/images.ts); unscored images are left out. */
  safe: boolean;
};

/** How the result set is found: every visible image, FTS, nearest neighbours, or both fused. */
export type Retrieval =
  | { kind: "browse" }
  | { kind: "keyword"; query: string }
  | { kind: "semantic"; embedding: readonly number[]; model: VectorModel }
  | { kind: "hybrid"; query: string; embedding: readonly number[]; model: VectorModel };

/** The CLIP model whose vectors a semantic or hybrid search reads (db/embedding-models.ts): its id and width. */
export type VectorModel = Pick<SearchModel, "id" | "dimensions">;

export type SearchPlan = {
  retrieval: Retrieval;
  filters: SearchFilters;
  sort: SearchSort;
  limit: number;
  offset: number;
  /** The clock for the recency boost; callers pass a day-rounded time so scores stay stable across pages. */
  now: Date;
  /** Tuning overrides, for the benchmark's sweeps. */
  tuning?: Partial<{
    rrfK: number;
    candidates: number;
    semanticPool: number;
    cutoff: number;
    exactCountLimit: number;
    sampleRows: number;
    samplePercent: number;
    commonPool: number;
  }>;
  /**
   * The database has `images_search_rum_idx` (migration 0010, where the rum extension exists): the
   * hybrid's keyword leg then takes its candidates in the index's rank order instead of ranking every
   * match ({@link RUM_INDEX}).
   */
  rumIndex?: boolean;
  /**
   * About how many rows `images` holds (pg_class.reltuples, which ANALYZE keeps current). Browse and
   * keyword searches on a catalogue larger than {@link COUNT_SAMPLE_ROWS} count their matches exactly
   * up to {@link EXACT_COUNT_LIMIT} and estimate beyond it from a sample; unknown means count exactly.
   */
  catalogueRows?: number;
  /**
   * The lexemes on at least {@link COMMON_WORD_MATCHES} images, from the column statistics ANALYZE
   * keeps (pg_stats.most_common_elems of images.search_vector). A search of plain words whose lexemes
   * are all among them ranks a bounded set of its matches ({@link commonWordSql}).
   */
  commonLexemes?: readonly string[];
};

/** The RUM index on images.search_vector (migration 0010); search.ts looks for it by this name. */
export const RUM_INDEX = "images_search_rum_idx";
/**
 * How many matches the hybrid's keyword leg takes from the RUM index before ts_rank picks its
 * {@link HYBRID_CANDIDATES}. RUM's order is close to ts_rank's but not the same: on the benchmark's
 * 100,000 images (scripts/bench/search/keyword.ts) a pool of 3,000 kept ts_rank's exact top 100 for
 * every specific and broad query, and 91% of its places for one-word queries matching a fifth to a
 * third of the catalogue (1,000 kept 81%), at a quarter of the cost of ranking every match.
 */
export const RUM_POOL = 3000;

/**
 * How many of the newest and of the most popular listed images browse's default order ranks by the
 * boosts: on the benchmark's corpus (scripts/bench/search/scale.ts) the first 24 of 100,000 and of
 * 1,000,000 listed images ranked by the boosts alone were all among the first 300 of one or the
 * other (24 each: 13 and 9 of them).
 */
export const BROWSE_POOL = 300;

/**
 * A word on at least this many images is common. Ranking every match of one costs in proportion to
 * its matches even from the RUM index (217 ms for a word on 28% of a million images), and its ts_rank
 * tells few of them apart (one word: most matches rank equal), so a search of such words ranks a
 * bounded set: the hybrid's keyword leg takes the matches nearest the query's embedding (the HNSW
 * index, filtered by the word), keyword search the {@link COMMON_POOL} most popular then newest.
 */
export const COMMON_WORD_MATCHES = 20_000;
/** How many of a common word's matches keyword search ranks, most popular then newest first. */
export const COMMON_POOL = 1000;

/**
 * What the route asks once in a while about the catalogue: whether the RUM index exists, about how
 * many rows `images` holds (null before the table was first analysed), and its common lexemes
 * ({@link COMMON_WORD_MATCHES}; ANALYZE samples 30,000 rows and keeps the 1,000 most frequent).
 */
export function catalogueProbeStatement(): SQL {
  return sql`with catalogue as (
  select nullif(reltuples, -1)::float8 as rows from pg_class where oid = 'images'::regclass
)
select to_regclass(${RUM_INDEX}) is not null as "rumIndex",
  (select rows from catalogue) as "catalogueRows",
  (select coalesce(array_agg(m.lexeme order by m.lexeme), '{}')
     from pg_stats s, unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) as m(lexeme, share)
     where s.schemaname = current_schema() and s.tablename = 'images' and s.attname = 'search_vector'
       and m.lexeme is not null and m.share * (select rows from catalogue) >= ${COMMON_WORD_MATCHES}) as "commonLexemes"`;
}

/** What the catalogue probe tells a search ({@link SearchPlan}'s rumIndex, catalogueRows, commonLexemes). */
export type CatalogueFacts = { rumIndex: boolean; catalogueRows: number | null; commonLexemes: string[] };

/** The row of {@link catalogueProbeStatement}, checked: anything missing or odd counts as unknown. */
export function catalogueFactsFrom(row: Record<string, unknown> | undefined): CatalogueFacts {
  const rows = Number(row?.catalogueRows);
  const lexemes = row?.commonLexemes;
  return {
    rumIndex: row?.rumIndex === true,
    catalogueRows: Number.isFinite(rows) && rows > 0 ? rows : null,
    commonLexemes: Array.isArray(lexemes) ? lexemes.filter((l): l is string => typeof l === "string") : [],
  };
}

/** Plain words, nothing else: no phrase, no exclusion, no `or`. */
const PLAIN_WORDS = /^\s*[\p{L}\p{N}][\p{L}\p{N}'-]*(\s+[\p{L}\p{N}][\p{L}\p{N}'-]*)*\s*$/u;

/**
 * For a search of plain words on a catalogue with common lexemes: SQL true when every lexeme of
 * every word is common ("close-up" gives close-up and close; "copy space" copi and space), computed
 * once per statement; otherwise null. The lexemes travel as one JSON parameter. Words that are common
 * alone may rarely meet: the hybrid's filtered HNSW scan then stops at pgvector's hnsw.max_scan_tuples
 * with fewer candidates, and keyword search only takes this path past the exact-count limit.
 */
export function commonWordSql(query: string, commonLexemes: readonly string[] | undefined): SQL | null {
  if (!commonLexemes?.length || !PLAIN_WORDS.test(query) || /(^|\s)or(\s|$)/i.test(query)) return null;
  return sql`(select cardinality(l) > 0 and l <@ array(select jsonb_array_elements_text(${JSON.stringify(commonLexemes)}::jsonb))
    from tsvector_to_array(to_tsvector('english', ${query})) as l)`;
}

/**
 * The `common_words (yes)` CTE of a keyword or hybrid search that may take the common-word path
 * ({@link commonWordSql}), or null: the test runs once per statement, however many branches it guards.
 */
function commonWordsCte(plan: SearchPlan): SQL | null {
  const { retrieval } = plan;
  if (retrieval.kind !== "keyword" && retrieval.kind !== "hybrid") return null;
  const test = commonWordSql(retrieval.query, plan.commonLexemes);
  return test ? sql`common_words as (select ${test} as yes)` : null;
}
/** SQL true when the search's words are all common (the {@link commonWordsCte}'s answer), or null when it has none. */
function commonWords(plan: SearchPlan): SQL | null {
  return commonWordsCte(plan) ? sql`(select yes from common_words)` : null;
}

/**
 * Browse and keyword searches count their matches exactly (the total and every facet) up to this
 * many; beyond it the counts are estimates from a sample of the catalogue, and the response says so.
 * Counting is the part of a search that grows with its matches: every listed image for browse.
 */
export const EXACT_COUNT_LIMIT = 10_000;
/**
 * About how many rows of `images` the sample reads (`TABLESAMPLE SYSTEM`, whole pages, the same pages
 * for every query so a total does not move between pages). A catalogue of at most this many rows is
 * always counted exactly. With n sampled matches a share's relative standard error is about 1/√n
 * (n is over a hundred when a search is estimated at 1,000,000 images), more where neighbouring rows
 * (one upload batch) look alike.
 */
export const COUNT_SAMPLE_ROWS = 5_000;
/** The sample's seed (`REPEATABLE`): any fixed number; fixed so a search's estimate is stable. */
const SAMPLE_SEED = 20_261_207;

/**
 * The percentage of `images` the counting sample reads, or null for exact counting (a small or
 * unknown catalogue).
 */
export function countSamplePercent(plan: Pick<SearchPlan, "catalogueRows" | "tuning">): number | null {
  if (plan.tuning?.samplePercent !== undefined) return plan.tuning.samplePercent;
  const rows = plan.catalogueRows;
  const sampleRows = plan.tuning?.sampleRows ?? COUNT_SAMPLE_ROWS;
  if (!rows || !Number.isFinite(rows) || rows <= sampleRows) return null;
  return (100 * sampleRows) / rows;
}

/** Row of the search statement: the total, the page (JSON) and the facets, in one round trip. */
export type SearchRow = {
  total: number;
  /** The total and the facet counts are estimates from a sample ({@link EXACT_COUNT_LIMIT}). */
  approximate: boolean;
  results: SearchResultRow[];
  categories: Record<string, number>;
  orientations: Record<string, number>;
  colours: Record<string, number>;
  license_types: Record<LicenseFilter, number>;
  /** The contributors with most matches, at most {@link CONTRIBUTOR_FACET_SIZE}. */
  contributors: { id: string; displayName: string; images: number }[];
};

/** How many contributors the contributor facet lists (those with most matching images). */
export const CONTRIBUTOR_FACET_SIZE = 10;

export type SearchResultRow = {
  id: string;
  title: string;
  width: number | null;
  height: number | null;
  derivativeKeys: Record<string, string> | null;
  /** The dominant colour (`#rrggbb`), the tile's placeholder while its thumbnail loads. */
  colour: string | null;
  contributorId: string;
  displayName: string;
  tags: string[];
  prices: { licenseType: LicenseFilter; amountCents: number; currency: string }[];
  score: number;
};

const WORD = /[\p{L}\p{N}][\p{L}\p{N}'-]*/gu;

const synonymsByWord = (() => {
  const map = new Map<string, Set<string>>();
  for (const group of SYNONYM_GROUPS) {
    for (const member of group) {
      if (!/^[a-z0-9][a-z0-9 -]*$/.test(member)) throw new Error(`synonym ${JSON.stringify(member)} is not lower-case words`);
      if (member.includes(" ")) continue; // multi-word members are expansions only: queries are matched word by word
      const set = map.get(member) ?? new Set<string>();
      for (const other of group) set.add(other);
      map.set(member, set);
    }
  }
  return map;
})();

/** The words of a query that have synonyms, each with its group (itself included), in query order. */
export function synonymExpansions(query: string): { word: string; members: string[] }[] {
  const seen = new Set<string>();
  const expansions: { word: string; members: string[] }[] = [];
  for (const match of query.toLowerCase().matchAll(WORD)) {
    const word = match[0];
    const members = synonymsByWord.get(word);
    if (!members || seen.has(word)) continue;
    seen.add(word);
    expansions.push({ word, members: [...members] });
  }
  return expansions;
}

/**
 * The tsquery of a user's query: websearch_to_tsquery (quoted phrases, `or`, `-exclusions`) with
 * every word that has synonyms rewritten into an OR of its group by ts_rewrite, so "ocean" also
 * matches "sea", inside phrases and exclusions too. Built from parameters only.
 *
 * @example keywordTsquery("ocean -boat") // ts_rewrite(ts_rewrite(websearch_to_tsquery('english', $1), ...ocean...), ...boat...)
 */
export function keywordTsquery(query: string): SQL {
  let tsquery = sql`websearch_to_tsquery('english', ${query})`;
  for (const { word, members } of synonymExpansions(query)) {
    const alternatives = sql.join(
      members.map((member) => sql`phraseto_tsquery('english', ${member})`),
      sql` || `,
    );
    tsquery = sql`ts_rewrite(${tsquery}, plainto_tsquery('english', ${word}), ${alternatives})`;
  }
  return tsquery;
}

/** What every search applies to `images i`: listed (common/images.ts) and the caller's filters. */
export function visibleAndFiltered(filters: SearchFilters, { rowByRow = false } = {}): SQL {
  const conditions: SQL[] = [listedSql("i")];
  if (filters.safe) conditions.push(safeForSearchSql("i"));
  if (filters.category) {
    // rowByRow: `offset 0` keeps the category a look-up per row (the primary key's index) for a
    // bounded set of rows such as the counting sample; otherwise the planner may hash every image of
    // the category first (162,000 at a million images, 113 ms for a sample of 5,000 rows).
    conditions.push(sql`exists (select 1 from image_categories ic where ic.image_id = i.id and ic.category_slug = ${filters.category}${rowByRow ? sql` offset 0` : sql``})`);
  }
  if (filters.orientation) conditions.push(sql`i.orientation = ${filters.orientation}`);
  if (filters.colour) conditions.push(sql`i.colour_bucket = ${filters.colour}`);
  if (filters.contributorId) conditions.push(sql`i.contributor_id = ${filters.contributorId}::uuid`);
  if (filters.license) conditions.push(filters.license === "editorial" ? sql`i.editorial` : sql`not i.editorial`);
  if (filters.minWidth !== undefined) conditions.push(sql`i.width >= ${filters.minWidth}`);
  if (filters.minHeight !== undefined) conditions.push(sql`i.height >= ${filters.minHeight}`);
  if (filters.publishedFrom) conditions.push(sql`i.published_at >= ${filters.publishedFrom.toISOString()}::timestamptz`);
  if (filters.publishedBefore) conditions.push(sql`i.published_at < ${filters.publishedBefore.toISOString()}::timestamptz`);
  return sql.join(conditions, sql` and `);
}

/**
 * Multiplier for business signals, close to 1 so relevance dominates:
 * `(1 + 0.01·ln(1 + sales + 0.1·downloads)) · (1 + 0.03·e^(−age/180 days))`. The exponent is
 * capped (Postgres raises an underflow error for exp of a large negative number); unpublished
 * images get no recency boost.
 */
export function businessBoost(now: Date): SQL {
  return sql`((1 + ${POPULARITY_WEIGHT}::float8 * ln(1 + i.sale_count + 0.1 * i.download_count)::float8)
      * (1 + ${RECENCY_WEIGHT}::float8 * coalesce(exp(-least(greatest(extract(epoch from (${now.toISOString()}::timestamptz - i.published_at)), 0)::float8 / ${RECENCY_DECAY_DAYS * 86400}::float8, 50)), 0)))`;
}

/** `'[0.1,0.2,...]'::vector`: numbers the embedder produced, bound as one parameter. */
/**
 * The model's vectors joined to their images, and the distance to the query in the form of the
 * model's partial HNSW index (image_embeddings_<id>_hnsw over embedding::vector(<width>)), so the
 * index scan hands over images nearest first and the iterative scan keeps going past filtered rows.
 */
function nearestSource(retrieval: { embedding: readonly number[]; model: VectorModel }): { from: SQL; model: SQL; distance: SQL } {
  const query = sql`${`[${retrieval.embedding.join(",")}]`}`;
  return {
    from: sql`image_embeddings e join images i on i.id = e.image_id`,
    model: modelIs(retrieval.model, "e"),
    distance: vectorDistance(retrieval.model, "e", query),
  };
}

/**
 * Keyword relevance: `ts_rank` with the label weights (title A, tags B, description C). Each query
 * term scores its best-weighted occurrence plus diminishing shares of the others (1/n² for the
 * n-th), so a word in the title and the tags beats the title alone, repeating a tag gains little,
 * and an AND query favours terms close together. No length normalisation: a richer description
 * should not push an image down.
 *
 * `ts_rank_cd` (cover density, normalised by length), used before, ranked the benchmark's queries
 * about as well (share of the top 24 from the query's own topic, old against new: 1.000 and 1.000
 * for specific keyword queries, 0.999 and 0.999 hybrid; for one-word queries, whose word several
 * topics share, 0.436 and 0.421 keyword, 0.773 and 0.766 hybrid) but cost a third of the hybrid
 * statement's execution (5.2 against 3.5 ms on average over the 200 topic queries at 100k images).
 * The rank is computed for every matching row, so it is the part of a search that grows with a
 * common word (scripts/bench/search/README.md).
 */
function keywordRank(query: string): SQL {
  return sql`ts_rank(${RANK_WEIGHTS}::float4[], i.search_vector, ${keywordTsquery(query)})`;
}

/**
 * Columns every `matched` row carries, so the facets and the sort read them without joining
 * `images` again: the facet values, the sort keys and the business boost.
 */
function carriedColumns(now: Date): SQL {
  return sql`${CARRIED_FROM_IMAGES}, ${businessBoost(now)} as boost`;
}
/** Popularity as images_listed_popularity_idx (migration 0012) indexes it, so an ORDER BY can read the index. */
const POPULARITY = sql`(i.sale_count + 0.1 * i.download_count)`;
const CARRIED = sql`orientation, colour_bucket, editorial, published_at, contributor_id, popularity`;
const CARRIED_FROM_IMAGES = sql`i.orientation, i.colour_bucket, i.editorial, i.published_at, i.contributor_id, ${POPULARITY}::float8 as popularity`;
/** The columns the facets count. */
const FACET_COLUMNS = sql`i.id, i.orientation, i.colour_bucket, i.editorial, i.contributor_id`;
/**
 * The raw columns {@link carriedColumns} reads, taken by each hybrid leg from the row it already
 * holds, so the fused rows need no second look-up in `images`.
 */
const RAW = ["orientation", "colour_bucket", "editorial", "published_at", "contributor_id", "sale_count", "download_count"] as const;
const RAW_COLUMNS = sql.raw(RAW.map((c) => `i.${c}`).join(", "));
const FUSED_RAW_COLUMNS = sql.raw(RAW.map((c) => `coalesce(k.${c}, s.${c}) as ${c}`).join(", "));

/**
 * The `matched (id, score, orientation, colour_bucket, editorial, published_at, contributor_id, popularity)` CTE
 * for each retrieval.
 *
 * Hybrid (one statement, RRF of the top {@link HYBRID_CANDIDATES} of each ranking):
 *   keyword_hits: FTS matches ranked by ts_rank, top N (GIN index on search_vector);
 *   semantic_hits: the N nearest embeddings by cosine distance (HNSW index, iterative scan when
 *     filtered; the settings are the database's defaults, migration 0006);
 *   fused: Σ 1/(k + rank) over a full join, carrying each leg's raw columns;
 *   fused_carried, boosted: the facet and sort columns and the business boost from those columns;
 *   matched: fused results scoring at least HYBRID_CUTOFF × the best.
 */
function matchedCte(plan: SearchPlan): SQL {
  const where = visibleAndFiltered(plan.filters);
  const carried = carriedColumns(plan.now);
  const k = plan.tuning?.rrfK ?? RRF_K;
  const candidates = plan.tuning?.candidates ?? HYBRID_CANDIDATES;
  const { retrieval } = plan;
  switch (retrieval.kind) {
    case "browse": {
      // The first offset + limit rows of the order, from the listed-images indexes (migration 0012):
      // exact for newest and popular (among equal popularity the boost orders by recency, so the
      // index's order is the page's). Relevance (the boost alone) ranks the union of both orders'
      // first BROWSE_POOL (or offset + limit, if more): an image outside both would need to beat
      // hundreds of images more popular and hundreds newer than it.
      const window = plan.offset + plan.limit;
      const newest = (n: number) => sql`select i.id from images i where ${where} order by i.published_at desc nulls last, i.id limit ${n}`;
      const popular = (n: number) => sql`select i.id from images i where ${where} order by ${POPULARITY} desc, i.published_at desc nulls last, i.id limit ${n}`;
      const pool = Math.max(BROWSE_POOL, window);
      const ids = plan.sort === "newest" ? newest(window) : plan.sort === "popular" ? popular(window) : sql`(${newest(pool)}) union (${popular(pool)})`;
      return sql`hits as (
  select i.id, ${carried}
  from images i
  where i.id in (${ids})
),
matched as (
  select id, boost as score, ${CARRIED} from hits
)`;
    }
    case "keyword": {
      const tsquery = keywordTsquery(retrieval.query);
      const window = plan.offset + plan.limit;
      // When every match was counted ({@link countingCtes}), they are ranked from there; past the
      // limit, the first offset + limit rows of the page's order, and for relevance with RUM the
      // index's best matches in its rank order, re-ranked as in the hybrid's keyword leg.
      const order =
        plan.sort === "newest"
          ? sql`order by i.published_at desc nulls last, i.id limit ${window}`
          : plan.sort === "popular"
            ? sql`order by ${POPULARITY} desc, ${keywordRank(retrieval.query)} * ${businessBoost(plan.now)} desc, i.id limit ${window}`
            : plan.rumIndex
              ? sql`order by i.search_vector <=> ${tsquery} limit ${Math.max(RUM_POOL, window)}`
              : sql`order by ${keywordRank(retrieval.query)} * ${businessBoost(plan.now)} desc, i.id limit ${window}`;
      // A common word (COMMON_WORD_MATCHES) by relevance: its COMMON_POOL most popular then newest
      // matches (images_listed_popularity_idx, filtered by the word), ranked by ts_rank and the boosts.
      const common = plan.sort === "relevance" ? commonWords(plan) : null;
      const beyond = (condition: SQL, rows: SQL) => sql`select * from (
    select i.id, ${keywordRank(retrieval.query)} as rank_score, ${carried}
    from images i
    where i.search_vector @@ ${tsquery} and ${where} and not (select yes from exact) and ${condition}
    ${rows}
  )`;
      const beyondCommon = common
        ? sql`
  union all
  ${beyond(common, sql`order by ${POPULARITY} desc, i.published_at desc nulls last, i.id limit ${Math.max(plan.tuning?.commonPool ?? COMMON_POOL, window)}`)} common`
        : sql``;
      return sql`hits as (
  select id, rank_score, ${CARRIED}, boost from counted where (select yes from exact)
  union all
  ${beyond(common ? sql`not ${common}` : sql`true`, order)} beyond${beyondCommon}
),
matched as (
  select id, rank_score * boost as score, ${CARRIED} from hits
)`;
    }
    case "semantic": {
      const nearest = nearestSource(retrieval);
      return sql`nearest as (
  select i.id, ${nearest.distance} as distance, ${carried}
  from ${nearest.from}
  where ${nearest.model} and ${where}
  order by ${nearest.distance}
  limit ${plan.tuning?.semanticPool ?? SEMANTIC_POOL}
),
matched as (
  select id, (1 - distance / 2) * boost as score, ${CARRIED} from nearest
)`;
    }
    case "hybrid": {
      const nearest = nearestSource(retrieval);
      const tsquery = keywordTsquery(retrieval.query);
      // With RUM, the index hands over its RUM_POOL best matches in its own rank order (close to ts_rank's
      // but not the same), and ts_rank picks the candidates from those: a common word no longer costs in
      // proportion to its matches, and the candidates are ts_rank's own top, up to ties
      // (scripts/bench/search/keyword.ts measures both).
      const common = commonWords(plan);
      const rare = common ? sql` and not ${common}` : sql``;
      const rankedHits = plan.rumIndex
        ? sql`select * from (
    select i.id, ${keywordRank(retrieval.query)} as rank_score, ${RAW_COLUMNS}
    from images i
    where i.search_vector @@ ${tsquery} and ${where}${rare}
    order by i.search_vector <=> ${tsquery}
    limit ${RUM_POOL}
  ) pool
  order by rank_score desc, id
  limit ${candidates}`
        : sql`select i.id, ${keywordRank(retrieval.query)} as rank_score, ${RAW_COLUMNS}
  from images i
  where i.search_vector @@ ${tsquery} and ${where}${rare}
  order by rank_score desc, i.id
  limit ${candidates}`;
      // A common word (COMMON_WORD_MATCHES): its matches nearest the query's embedding, from the HNSW
      // index filtered by the word (iterative scan: a word on a few percent of the catalogue is found in
      // a few thousand neighbours), ranked among themselves by ts_rank.
      const keywordHits = common
        ? sql`select * from (${rankedHits}) rare
  union all
  select * from (
    select i.id, ${keywordRank(retrieval.query)} as rank_score, ${RAW_COLUMNS}
    from ${nearest.from}
    where ${nearest.model} and i.search_vector @@ ${tsquery} and ${where} and ${common}
    order by ${nearest.distance}
    limit ${candidates}
  ) common`
        : rankedHits;
      return sql`keyword_hits as (
  ${keywordHits}
),
semantic_hits as (
  select i.id, ${nearest.distance} as distance, ${RAW_COLUMNS}
  from ${nearest.from}
  where ${nearest.model} and ${where}
  order by ${nearest.distance}
  limit ${candidates}
),
keyword_ranked as (
  select *, row_number() over (order by rank_score desc, id) as rank from keyword_hits
),
semantic_ranked as (
  select *, row_number() over (order by distance, id) as rank from semantic_hits
),
fused as (
  select coalesce(k.id, s.id) as id,
         coalesce(1.0 / (${k} + k.rank), 0) + coalesce(1.0 / (${k} + s.rank), 0) as rrf,
         ${FUSED_RAW_COLUMNS}
  from keyword_ranked k
  full join semantic_ranked s on s.id = k.id
),
fused_carried as (
  select i.id, i.rrf, ${carried} from fused i
),
boosted as (
  select id, rrf::float8 * boost as score, ${CARRIED} from fused_carried
),
matched as (
  select * from boosted
  where score >= ${plan.tuning?.cutoff ?? HYBRID_CUTOFF}::float8 * (select max(score) from boosted)
)`;
    }
  }
}

/**
 * Browse and keyword searches count every match, exactly on a small catalogue. On a large one
 * ({@link countSamplePercent}) they count at most {@link EXACT_COUNT_LIMIT} + 1; past the limit a
 * sample of pages stands for the whole, its matches weighing 100 / percent each. Keyword counts
 * first and samples past the limit; browse samples first and counts only when the sample finds
 * few. The conditions on the count and the estimate read no row of the scan they guard, so
 * Postgres checks them once and skips a scan that is not needed. CTEs:
 *   counted (the facet columns; for keyword also the rank and the carried columns, so an exact
 *     search ranks from it), exact (yes: every match is in counted), and past the limit
 *     sampled (the facet columns of the sample's matches, with their weight) and estimate (their
 *     number, scaled);
 *   tally (id, orientation, colour_bucket, editorial, contributor_id, weight) and
 *     tally_total (total, approximate), which the total and the facets read.
 * Hybrid and semantic searches count their result set instead ({@link resultTallyCtes}).
 */
function countingCtes(plan: SearchPlan): SQL | null {
  const { retrieval } = plan;
  if (retrieval.kind === "hybrid" || retrieval.kind === "semantic") return null;
  const words = retrieval.kind === "keyword" ? sql`i.search_vector @@ ${keywordTsquery(retrieval.query)} and ` : sql``;
  const match = sql`${words}${visibleAndFiltered(plan.filters)}`;
  const columns = retrieval.kind === "keyword" ? sql`i.id, ${keywordRank(retrieval.query)} as rank_score, ${carriedColumns(plan.now)}` : FACET_COLUMNS;
  const tallied = sql`id, orientation, colour_bucket, editorial, contributor_id`;
  const percent = countSamplePercent(plan);
  if (percent === null) {
    return sql`counted as (
  select ${columns} from images i where ${match}
),
exact as (
  select true as yes
),
tally as (
  select ${tallied}, 1::float8 as weight from counted
),
tally_total as (
  select count(*)::float8 as total, false as approximate from tally
)`;
  }
  const limit = plan.tuning?.exactCountLimit ?? EXACT_COUNT_LIMIT;
  const sample = (condition: SQL) => sql`sampled as (
  select ${FACET_COLUMNS}, ${100 / percent}::float8 as weight
  from images i tablesample system (${sql.raw(String(percent))}) repeatable (${sql.raw(String(SAMPLE_SEED))})
  where ${words}${visibleAndFiltered(plan.filters, { rowByRow: true })}${condition}
),
estimate as (
  select coalesce(sum(weight), 0) as n from sampled
)`;
  let counting: SQL;
  if (retrieval.kind === "browse") {
    // Browse mostly matches much of the catalogue: the sample first, and a count only when it finds
    // few (a selective filter).
    counting = sql`${sample(sql``)},
counted as (
  select ${columns} from images i where ${match} and (select n from estimate) <= ${limit} limit ${limit + 1}
),
exact as (
  select (select n from estimate) <= ${limit} and (select count(*) from counted) <= ${limit} as yes
)`;
  } else {
    // Keyword search mostly matches few: the count first, and the sample only past the limit. Common
    // words (commonWordSql) match more than the limit by definition and skip the count, whose index
    // scan would read all their postings before stopping.
    const common = commonWords(plan);
    counting = sql`counted as (
  select ${columns} from images i where ${match}${common ? sql` and not ${common}` : sql``} limit ${limit + 1}
),
exact as (
  select ${common ? sql`not ${common} and ` : sql``}count(*) <= ${limit} as yes from counted
),
${sample(sql` and not (select yes from exact)`)}`;
  }
  return sql`${counting},
tally as (
  select ${tallied}, 1::float8 as weight from counted where (select yes from exact)
  union all
  select ${tallied}, weight from sampled where not (select yes from exact)
),
tally_total as (
  select case when (select yes from exact) then (select count(*) from counted)::float8 else greatest((select n from estimate), ${limit + 1}) end as total,
         not (select yes from exact) as approximate
)`;
}

/**
 * The `tally` and `tally_total` CTEs of hybrid and semantic searches: their result set, at most a
 * few hundred rows, counted exactly ({@link countingCtes} for browse and keyword).
 */
function resultTallyCtes(): SQL {
  return sql`tally as (
  select id, orientation, colour_bucket, editorial, contributor_id, 1::float8 as weight from matched
),
tally_total as (
  select count(*)::float8 as total, false as approximate from tally
)`;
}

function orderBy(sort: SearchSort): SQL {
  switch (sort) {
    case "relevance":
      return sql`m.score desc, m.id`;
    case "newest":
      return sql`m.published_at desc nulls last, m.id`;
    case "popular":
      return sql`m.popularity desc, m.score desc, m.id`;
  }
}

/*
 * EXPLAIN (ANALYZE) on the test database (PGlite 0.5 / Postgres 18, pgvector 0.8.7), 3,000 approved
 * images with random embeddings, 20% matching "ocean", safe search on; the plans that matter for
 * speed come from the benchmark's corpus (scripts/bench/search/), where the tables are big enough
 * for the planner to prefer the indexes it ignores here.
 *
 * keyword "ocean" (the tsquery after synonyms: 'ocean' | 'sea' | 'seascap'):
 *   CTE matched -> Seq Scan on images i (rows=600; Rows Removed by Filter: 2400)
 *     Filter: withdrawn_at IS NULL AND search_vector @@ '...'::tsquery AND nsfw_score < 0.1 AND status = 'approved'
 *     (recorded before the listing rule gained `taken_down_at IS NULL`: one more check on the same rows)
 *     (20% selectivity: a seq scan is right; at low selectivity the GIN index images_search_vector_idx
 *     serves it, as test/db checks)
 *   page -> Sort (m.score DESC, m.id) over CTE Scan on matched, Limit 25; per result: Index Scan
 *     image_tags_image_id_tag_pk (tags), Memoize + Index Scan users_pkey, license_prices lookups
 *   facets -> HashAggregate over CTE Scan on matched (no second pass over images); categories via
 *     Hash Join image_categories
 * hybrid "ocean":
 *   semantic_hits -> Limit 100 -> Index Scan using images_embedding_hnsw_idx
 *     Order By: (embedding <=> '[…]'::vector)  Filter: visible and safe  (rows=100)
 *   keyword_hits -> Limit 100 -> Sort (ts_rank DESC, id) top-N heapsort -> Seq Scan images (rows=600)
 *   fused -> Hash Full Join (rows=196) of the two legs, which carry the boost and facet columns
 *   matched -> CTE Scan on boosted, Filter: score >= 0.3 × max (rows=163, removed 33)
 * semantic, category=food & orientation=portrait (~17% of rows pass):
 *   nearest -> Limit 200 -> Sort by distance -> Hash Join (Seq Scan images, Bitmap Index Scan
 *     image_categories_category_idx): an exact scan, cheaper than the graph at this size; with the
 *     iterative scan on, big tables keep walking the HNSW graph until 200 filtered rows are found.
 * suggestion "ocan forrest": per word, Seq Scan image_tags Filter: tag % word (trigram; the GIN
 *   trigram index image_tags_tag_trgm_idx takes over on larger tables), Hash Join visible images.
 */

/**
 * The whole search in one statement (one round trip to Neon): the matched set, its size, one page
 * of it with everything a result card shows (contributor, top tags, prices), and the facet counts
 * over the matched set. `matched` is referenced several times, so Postgres materialises it once.
 *
 * Prices: an active per-image override in USD, else the marketplace default for that license
 * type; editorial images list only the editorial license, others standard and enhanced.
 * Tags: up to 6, human-entered first, then AI tags by confidence.
 */
export function searchStatement(plan: SearchPlan): SQL {
  const counting = countingCtes(plan);
  const commonWords = commonWordsCte(plan);
  return sql`with ${commonWords ? sql`${commonWords},\n` : sql``}${counting ? sql`${counting},\n${matchedCte(plan)}` : sql`${matchedCte(plan)},\n${resultTallyCtes()}`},
${pageAndFacets(plan)}`;
}

/**
 * The matched set given from outside: ids with their scores, in the shape searchStatement's
 * `matched` has, so {@link pageAndFacets} can present them. For the benchmark, which puts the
 * route's cards and facets over another engine's ranking (scripts/bench/search/lancedb.ts). An id
 * no longer listed drops out: what the other engine holds may be older than the catalogue.
 */
export function givenMatchesStatement(matches: readonly { id: string; score: number }[], plan: Pick<SearchPlan, "sort" | "limit" | "offset">): SQL {
  return sql`with matched as (
  select i.id, m.score, ${CARRIED_FROM_IMAGES}
  from unnest(${`{${matches.map((m) => m.id).join(",")}}`}::uuid[], ${`{${matches.map((m) => m.score).join(",")}}`}::float8[]) as m(id, score)
  join images i on i.id = m.id
  where ${listedSql("i")}
),
${resultTallyCtes()},
${pageAndFacets(plan)}`;
}

/**
 * The tail of the search statement, over the CTEs `matched`, `tally` and `tally_total`: the page
 * (cards with contributor, tags and prices), the total and the facets.
 */
function pageAndFacets(plan: Pick<SearchPlan, "sort" | "limit" | "offset">): SQL {
  const order = orderBy(plan.sort);
  return sql`page as (
  select m.id, m.score, row_number() over (order by ${order}) as position
  from matched m
  order by ${order}
  limit ${plan.limit} offset ${plan.offset}
)
select
  (select round(total)::int from tally_total) as total,
  (select approximate from tally_total) as approximate,
  (select coalesce(json_agg(r order by r.position), '[]'::json) from (
    select p.position, i.id, i.title, i.width, i.height, i.derivative_keys as "derivativeKeys",
           i.palette->0->>'hex' as colour,
           i.contributor_id as "contributorId", u.display_name as "displayName", p.score,
           array(
             select t.tag from image_tags t where t.image_id = i.id
             order by (t.source = 'ai'), t.confidence desc nulls first, t.tag
             limit 6
           ) as tags,
           (select coalesce(json_agg(json_build_object('licenseType', lt.type, 'amountCents', price.amount_cents, 'currency', price.currency) order by lt.type), '[]'::json)
              from unnest(case when i.editorial then array['editorial'] else array['standard', 'enhanced'] end::license_type[]) as lt(type)
              cross join lateral (
                select lp.amount_cents, lp.currency from license_prices lp
                where lp.license_type = lt.type and lp.active and lp.currency = 'usd' and (lp.image_id = i.id or lp.image_id is null)
                order by lp.image_id nulls last
                limit 1
              ) price) as prices
    from page p
    join images i on i.id = p.id
    join users u on u.id = i.contributor_id
  ) r) as results,
  (select coalesce(json_object_agg(slug, n), '{}'::json) from (
    select ic.category_slug as slug, round(sum(t.weight))::int as n
    from tally t cross join lateral (
      -- offset 0 keeps the look-up per tallied row (the primary key's index): joined as a whole, the
      -- planner hashes every row of image_categories for a sample of a few thousand.
      select category_slug from image_categories where image_id = t.id offset 0
    ) ic
    group by ic.category_slug
  ) c) as categories,
  (select coalesce(json_object_agg(orientation, n), '{}'::json) from (
    select orientation, round(sum(weight))::int as n from tally where orientation is not null group by orientation
  ) o) as orientations,
  (select coalesce(json_object_agg(colour_bucket, n), '{}'::json) from (
    select colour_bucket, round(sum(weight))::int as n from tally where colour_bucket is not null group by colour_bucket
  ) c) as colours,
  (select json_build_object(
      'standard', round(coalesce(sum(weight) filter (where not editorial), 0))::int,
      'enhanced', round(coalesce(sum(weight) filter (where not editorial), 0))::int,
      'editorial', round(coalesce(sum(weight) filter (where editorial), 0))::int)
    from tally) as license_types,
  (select coalesce(json_agg(json_build_object('id', c.contributor_id, 'displayName', u.display_name, 'images', c.n) order by c.n desc, c.contributor_id), '[]'::json) from (
    select contributor_id, round(sum(weight))::int as n from tally group by contributor_id order by n desc, contributor_id limit ${CONTRIBUTOR_FACET_SIZE}
  ) c join users u on u.id = c.contributor_id) as contributors`;
}

/**
 * "Did you mean": for each query word, the visible tag closest to it by trigram similarity
 * (pg_trgm `%`, threshold 0.3, served by the trigram index on image_tags.tag), preferring an exact
 * match and then the tag on most images. A word with an exact tag keeps itself.
 */
export function suggestionStatement(words: readonly string[], safe: boolean): SQL {
  const list = sql.join(
    words.map((word) => sql`${word}`),
    sql`, `,
  );
  return sql`select w.word, w.ord, best.tag
from unnest(array[${list}]::text[]) with ordinality as w(word, ord)
left join lateral (
  select t.tag
  from image_tags t
  join images i on i.id = t.image_id and ${listedSql("i")}${safe ? sql` and ${safeForSearchSql("i")}` : sql``}
  where t.tag % w.word
  group by t.tag
  order by t.tag = w.word desc, similarity(t.tag, w.word) desc, count(*) desc, t.tag
  limit 1
) best on true
order by w.ord`;
}

/**
 * Autocomplete: visible images' tags starting with the typed prefix, most used first. LIKE's
 * wildcards in the prefix are escaped, so `50%` means the characters "50%". The trigram index on
 * image_tags.tag serves left-anchored LIKE for prefixes of three characters or more.
 */
export function tagSuggestionStatement(prefix: string, limit: number): SQL {
  const pattern = `${prefix.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql`select t.tag, count(*)::int as images
from image_tags t
join images i on i.id = t.image_id and ${listedSql("i")} and ${safeForSearchSql("i")}
where t.tag like ${pattern}
group by t.tag
order by count(*) desc, t.tag
limit ${limit}`;
}

/**
 * Typo tolerance for the search box: visible tags closest to what was typed by trigram similarity
 * (pg_trgm's `%`, served by image_tags_tag_trgm_idx), for when no tag starts with it ("ocen" → "ocean").
 */
export function fuzzyTagSuggestionStatement(text: string, limit: number): SQL {
  return sql`select t.tag, count(*)::int as images
from image_tags t
join images i on i.id = t.image_id and ${listedSql("i")} and ${safeForSearchSql("i")}
where t.tag % ${text.toLowerCase()}
group by t.tag
order by similarity(t.tag, ${text.toLowerCase()}) desc, count(*) desc, t.tag
limit ${limit}`;
}

/**
 * A popular search becomes a suggestion only once this many distinct people ran it and found
 * something: one searcher (or one script) cannot plant a suggestion for everyone.
 */
export const POPULAR_QUERY_MIN_SEARCHERS = 3;

/** Popular searches that start with `prefix` (search_queries, written by the search route), asked by enough people and not blocked, most asked first. */
export function popularQuerySuggestionStatement(prefix: string, limit: number): SQL {
  const pattern = `${prefix.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql`select query, searchers::int as searches from search_queries
where query like ${pattern} and searchers >= ${POPULAR_QUERY_MIN_SEARCHERS} and not blocked
order by searchers desc, count desc, query limit ${limit}`;
}

/** Counts a search that found something, under its normalised text; a blocked query is no longer counted. Returns the row when counted. */
export function recordQueryStatement(normalised: string): SQL {
  return sql`insert into search_queries (query, count, last_seen_at) values (${normalised}, 1, now())
on conflict (query) do update set count = search_queries.count + 1, last_seen_at = now() where not search_queries.blocked
returning query`;
}

/** Counts the searcher behind a recorded query once: the first time this (query, searcher) pair is seen. */
export function recordSearcherStatement(normalised: string, searcher: string): SQL {
  return sql`with added as (
  insert into search_query_searchers (query, searcher) values (${normalised}, ${searcher}) on conflict do nothing returning query
)
update search_queries q set searchers = q.searchers + 1 from added where q.query = added.query`;
}
