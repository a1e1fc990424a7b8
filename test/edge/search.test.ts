import { env } from "cloudflare:test";
import { eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { colourBucket } from "../../common/colours";
import { listedSql, safeForSearchSql } from "../../common/images";
import { log } from "../../common/log";
import { PROBLEM_BASE_URI } from "../../common/problems";
import type { SearchModel } from "../../db/embedding-models";
import { imageCategories, images, imageTags, licensePrices, searchQueries, searchQuerySearchers } from "../../db/schema";
import { EmbeddingUnavailable } from "../../edge/adapters/embed-service";
import { type SearchRequest, type SearchResponse, searchImages } from "../../edge/services/catalogue/search";
import { purgeOldSearchers } from "../../edge/services/catalogue/search-queries";
import { catalogueProbeStatement, givenMatchesStatement, RUM_INDEX, type SearchRow, searchStatement } from "../../edge/services/catalogue/search-sql";
import { api, signUp, storeTestEmbedding, TEST_MODEL, testDb, testSearchModel, type WorkerTarget, workerWith } from "./support";

/**
 * GET /v1/search against a small labelled corpus inserted directly. Every image belongs to a
 * contributor made for this file and every search filters by that contributor, so test files
 * running in parallel on the same database cannot change what these searches see. Semantic
 * ranking runs the service with a deterministic fake embedder (topic centroids); the route itself
 * has no embedding service in tests and must degrade to keywords, and is also driven end to end
 * with a stubbed service.
 */

const { db, pool, dbHttp } = testDb();
afterAll(() => pool.end());
afterEach(() => vi.restoreAllMocks());

/** Topic centroids: unit vectors along the first axes. */
const TOPIC = { ocean: 0, car: 1, forest: 2, food: 3, unrelated: 9 } as const;
type Topic = keyof typeof TOPIC;

/** A unit vector mostly along a topic axis, with a little of an image-specific axis (weight < 1 = less typical). */
function embeddingNear(topic: Topic, own: number, weight = 0.9): number[] {
  const vector = new Array<number>(TEST_MODEL.dimensions).fill(0);
  vector[TOPIC[topic]] = weight;
  vector[100 + own] = Math.sqrt(1 - weight * weight);
  return vector;
}

/** The fake CLIP text encoder: known words pull towards their topic centroid. */
const WORD_TOPICS: Record<string, Topic> = {
  ocean: "ocean",
  sea: "ocean",
  wavy: "ocean",
  water: "ocean",
  car: "car",
  automobile: "car",
  forest: "forest",
  salad: "food",
  food: "food",
};
async function fakeEmbed(query: string): Promise<number[]> {
  const vector = new Array<number>(TEST_MODEL.dimensions).fill(0);
  for (const word of query.toLowerCase().split(/\W+/)) {
    const topic = WORD_TOPICS[word];
    if (topic) vector[TOPIC[topic]] = (vector[TOPIC[topic]] ?? 0) + 1;
  }
  const norm = Math.hypot(...vector);
  if (norm === 0) throw new EmbeddingUnavailable("the fake encoder knows none of these words");
  return vector.map((x) => x / norm);
}

// A word no other test file uses (consonants only, so the English stemmer leaves it alone).
const MARKER = `xq${Array.from({ length: 8 }, () => "bcdfghjklmnpqrtvwxz"[Math.floor(Math.random() * 19)]).join("")}`;

type Listing = {
  key: string;
  title: string;
  tags: string[];
  topic: Topic;
  weight?: number;
  category: "nature" | "transport" | "food";
  size: [number, number];
  colour: string;
  editorial?: boolean;
  sales?: number;
  publishedDaysAgo?: number;
  hidden?: "pending_review" | "rejected" | "processing" | "withdrawn" | "nsfw" | "unscored";
};

const CORPUS: Listing[] = [
  { key: "oceanWaves", title: "Ocean waves at sunset", tags: ["ocean", "waves", "sunset"], topic: "ocean", category: "nature", size: [1920, 1080], colour: "blue", sales: 5 },
  { key: "calmSea", title: "Calm sea below the cliff", tags: ["sea", "cliff"], topic: "ocean", weight: 0.85, category: "nature", size: [800, 1200], colour: "teal" },
  { key: "oceanBoat", title: "Fishing boat on the ocean", tags: ["boat", "ocean"], topic: "ocean", weight: 0.8, category: "transport", size: [1600, 900], colour: "blue" },
  {
    key: "seaView",
    title: "Sea view from the terrace",
    tags: ["terrace"],
    topic: "ocean",
    weight: 0.7,
    category: "nature",
    size: [1200, 800],
    colour: "white",
    publishedDaysAgo: 400,
  },
  {
    key: "viewOfSea",
    title: "A view over the quiet sea",
    tags: ["quiet"],
    topic: "ocean",
    weight: 0.7,
    category: "nature",
    size: [1200, 800],
    colour: "gray",
    publishedDaysAgo: 30,
  },
  { key: "lighthouse", title: "Lighthouse on a rocky point", tags: ["lighthouse", "rocks"], topic: "ocean", weight: 0.6, category: "nature", size: [1000, 1000], colour: "gray" },
  { key: "redCar", title: "Red sports car on a mountain road", tags: ["car", "road"], topic: "car", category: "transport", size: [1920, 1080], colour: "red", sales: 40 },
  {
    key: "vintageAuto",
    title: "Vintage automobile in a garage",
    tags: ["automobile", "vintage"],
    topic: "car",
    category: "transport",
    size: [1000, 1000],
    colour: "brown",
    editorial: true,
  },
  { key: "pineForest", title: "Pine forest in fog", tags: ["forest", "fog"], topic: "forest", category: "nature", size: [800, 1200], colour: "green" },
  { key: "salad", title: "Fresh salad bowl", tags: ["salad", "food"], topic: "food", category: "food", size: [1000, 1000], colour: "green", publishedDaysAgo: 2 },
  // Never visible in safe search (or ever, for the first four), though they match everything.
  {
    key: "pending",
    title: "Ocean car forest pending",
    tags: ["ocean", "car"],
    topic: "ocean",
    weight: 0.99,
    category: "nature",
    size: [1920, 1080],
    colour: "blue",
    hidden: "pending_review",
  },
  {
    key: "rejected",
    title: "Ocean car forest rejected",
    tags: ["ocean", "car"],
    topic: "car",
    weight: 0.99,
    category: "transport",
    size: [1920, 1080],
    colour: "red",
    hidden: "rejected",
  },
  {
    key: "processing",
    title: "Ocean car forest processing",
    tags: ["ocean"],
    topic: "forest",
    weight: 0.99,
    category: "nature",
    size: [800, 1200],
    colour: "green",
    hidden: "processing",
  },
  {
    key: "withdrawn",
    title: "Ocean car forest withdrawn",
    tags: ["ocean", "sea"],
    topic: "ocean",
    weight: 0.99,
    category: "nature",
    size: [1920, 1080],
    colour: "blue",
    hidden: "withdrawn",
  },
  { key: "nsfw", title: "Ocean car forest flagged", tags: ["ocean"], topic: "ocean", weight: 0.99, category: "nature", size: [1920, 1080], colour: "blue", hidden: "nsfw" },
  {
    key: "unscored",
    title: "Ocean car forest unscored",
    tags: ["ocean"],
    topic: "ocean",
    weight: 0.99,
    category: "nature",
    size: [1920, 1080],
    colour: "blue",
    hidden: "unscored",
  },
];

const NEVER_VISIBLE = ["pending", "rejected", "processing", "withdrawn"];
const UNSAFE = ["nsfw", "unscored"];
const id: Record<string, string> = {};
const keyOf: Record<string, string> = {};
let contributorId = "";
let model: SearchModel;

beforeAll(async () => {
  model = await testSearchModel(db);
  const contributor = await signUp("contributor");
  contributorId = contributor.userId;
  for (const [index, listing] of CORPUS.entries()) {
    const status = listing.hidden === "pending_review" || listing.hidden === "rejected" || listing.hidden === "processing" ? listing.hidden : "approved";
    const [row] = await db
      .insert(images)
      .values({
        contributorId,
        title: `${listing.title} ${MARKER}`,
        status,
        stage: "done",
        editorial: listing.editorial ?? false,
        width: listing.size[0],
        height: listing.size[1],
        colourBucket: listing.colour,
        nsfwScore: listing.hidden === "nsfw" ? 0.6 : listing.hidden === "unscored" ? null : 0.01,
        tagText: listing.tags.join(" "),
        saleCount: listing.sales ?? 0,
        derivativeKeys: { thumb450: `images/${listing.key}/thumb-450.webp`, preview: `images/${listing.key}/preview-1200.webp` },
        publishedAt: status === "approved" ? new Date(Date.now() - (listing.publishedDaysAgo ?? 100) * 86_400_000) : null,
        withdrawnAt: listing.hidden === "withdrawn" ? new Date() : null,
      })
      .returning({ id: images.id });
    if (!row) throw new Error("insert failed");
    await storeTestEmbedding(db, row.id, embeddingNear(listing.topic, index, listing.weight));
    id[listing.key] = row.id;
    keyOf[row.id] = listing.key;
    await db.insert(imageTags).values(listing.tags.map((tag) => ({ imageId: row.id, tag, source: "contributor" as const })));
    await db.insert(imageCategories).values({ imageId: row.id, categorySlug: listing.category, source: "contributor" });
  }
  await db.insert(licensePrices).values([
    { imageId: id.oceanWaves, licenseType: "standard", amountCents: 4900 },
    { imageId: id.oceanWaves, licenseType: "enhanced", amountCents: 12900 },
    { imageId: id.vintageAuto, licenseType: "standard", amountCents: 9999 },
    { imageId: id.vintageAuto, licenseType: "editorial", amountCents: 1500 },
  ]);
});

type Problem = { type: string; status: number; errors?: { path: string }[]; retryAfter?: number };

async function search(params: Record<string, string>, init: Parameters<typeof api>[1] = {}): Promise<{ res: Response; body: SearchResponse }> {
  const res = await api(`/v1/search?${new URLSearchParams({ contributor: contributorId, ...params })}`, init);
  const text = await res.text();
  expect(res.status, text.slice(0, 500)).toBe(200);
  return { res, body: JSON.parse(text) as SearchResponse };
}

const keys = (body: SearchResponse) => body.results.map((r) => keyOf[r.id] ?? r.id);

/** The service with the fake embedder, on this file's connection (what the route runs, minus cache and HTTP). */
function serviceSearch(q: string, mode: SearchRequest["mode"], extra: Partial<SearchRequest> = {}) {
  return searchImages(
    { db: dbHttp, model, embed: fakeEmbed, urls: { rendition: (key) => `https://img.test/${key}` }, log },
    { q, mode, sort: "relevance", perPage: 24, offset: 0, filters: { contributorId, safe: true }, ...extra },
  );
}

describe("keyword ranking", () => {
  it("finds title and tag matches and nothing unrelated", async () => {
    const { body } = await search({ q: "lighthouse", mode: "keyword" });
    expect(keys(body)).toEqual(["lighthouse"]);
    expect(body.mode).toBe("keyword");
    expect(body.total).toBe(1);
  });

  it("expands synonyms both ways: ocean finds sea, automobile finds car", async () => {
    const ocean = keys((await search({ q: "ocean", mode: "keyword" })).body);
    expect(new Set(ocean)).toEqual(new Set(["oceanWaves", "oceanBoat", "calmSea", "seaView", "viewOfSea"]));
    // A title match (weight A) of the word itself ranks above matches of a synonym elsewhere.
    expect(ocean.indexOf("oceanWaves")).toBeLessThan(ocean.indexOf("seaView"));
    const auto = keys((await search({ q: "automobile", mode: "keyword" })).body);
    expect(new Set(auto)).toEqual(new Set(["vintageAuto", "redCar"]));
    const car = keys((await search({ q: "car", mode: "keyword" })).body);
    expect(new Set(car)).toEqual(new Set(["vintageAuto", "redCar"]));
  });

  it("matches quoted phrases as phrases", async () => {
    const phrase = keys((await search({ q: '"sea view"', mode: "keyword" })).body);
    expect(phrase).toEqual(["seaView"]);
    const words = keys((await search({ q: "sea view", mode: "keyword" })).body);
    expect(new Set(words)).toEqual(new Set(["seaView", "viewOfSea"]));
  });

  it("honours -exclusions (and or)", async () => {
    const excluded = keys((await search({ q: "ocean -boat", mode: "keyword" })).body);
    expect(excluded).not.toContain("oceanBoat");
    expect(excluded).toContain("oceanWaves");
    const either = keys((await search({ q: "lighthouse or salad", mode: "keyword" })).body);
    expect(new Set(either)).toEqual(new Set(["lighthouse", "salad"]));
  });

  it("treats SQL and tsquery syntax in the query as text", async () => {
    for (const q of ["' OR 1=1 --", "ocean & | ! :* (", "'); drop table images; --", "\\x00 <-> sea"]) {
      const { body } = await search({ q, mode: "keyword" });
      expect(body.results.every((r) => !NEVER_VISIBLE.includes(keyOf[r.id] ?? ""))).toBe(true);
    }
    const [row] = (await db.execute<{ n: number }>(sql`select count(*)::int as n from images where contributor_id = ${contributorId}`)).rows;
    expect(row?.n).toBe(CORPUS.length);
  });

  it('suggests "did you mean" from visible tags when a query finds little', async () => {
    const { body } = await search({ q: "lighthose", mode: "keyword" });
    expect(body.total).toBe(0);
    expect(body.suggestion).toBe("lighthouse");
    const found = await search({ q: "lighthouse", mode: "keyword" });
    expect(found.body.suggestion).toBe(null);
  });

  it("never suggests a tag that only images hidden by safe search carry", async () => {
    const tag = `${MARKER}quokka`;
    await db.insert(imageTags).values({ imageId: id.nsfw ?? "", tag, source: "contributor" });
    const safe = await search({ q: `${MARKER}quokkka`, mode: "keyword", safe: "true" });
    expect(safe.body.total).toBe(0);
    expect(safe.body.suggestion).not.toBe(tag);
    // Without safe search the flagged image can be shown, so its tag can be suggested.
    const unsafe = await search({ q: `${MARKER}quokkka`, mode: "keyword", safe: "false" });
    expect(unsafe.body.suggestion).toBe(tag);
  });
});

describe("semantic and hybrid ranking (fake embedder)", () => {
  it("semantic: images near the query's centroid rank above the rest, in distance order", async () => {
    const body = await serviceSearch("wavy water", "semantic");
    expect(body.mode).toBe("semantic");
    const order = keys(body);
    // Ocean images by typicality (weights 0.9, 0.85, 0.8, 0.7, 0.7, 0.6), then the others.
    expect(order.slice(0, 3)).toEqual(["oceanWaves", "calmSea", "oceanBoat"]);
    const lastOcean = Math.max(...["seaView", "viewOfSea", "lighthouse"].map((k) => order.indexOf(k)));
    for (const other of ["redCar", "vintageAuto", "pineForest", "salad"]) expect(order.indexOf(other)).toBeGreaterThan(lastOcean);
    expect(order.some((k) => NEVER_VISIBLE.includes(k) || UNSAFE.includes(k))).toBe(false);
  });

  it("semantic: a selective filter still fills the page (iterative index scan)", async () => {
    const body = await serviceSearch("ocean", "semantic", { filters: { contributorId, safe: true, category: "transport" } });
    expect(new Set(keys(body))).toEqual(new Set(["oceanBoat", "redCar", "vintageAuto"]));
  });

  it("hybrid: results in both rankings come first; a query with no keyword match still finds by meaning", async () => {
    const body = await serviceSearch("ocean", "hybrid");
    expect(body.mode).toBe("hybrid");
    const order = keys(body);
    // First in both rankings; then the others both rankings hold (calmSea and oceanBoat tie on RRF: 2nd and 3rd in each).
    expect(order[0]).toBe("oceanWaves");
    expect(new Set(order.slice(1, 3))).toEqual(new Set(["calmSea", "oceanBoat"]));
    expect(new Set(order.slice(3, 5))).toEqual(new Set(["seaView", "viewOfSea"]));
    for (const other of ["redCar", "vintageAuto", "pineForest", "salad"]) {
      if (order.includes(other)) expect(order.indexOf(other)).toBeGreaterThan(order.indexOf("viewOfSea"));
    }
    const meaningOnly = await serviceSearch("wavy water", "hybrid");
    expect(keys(meaningOnly).slice(0, 3)).toEqual(["oceanWaves", "calmSea", "oceanBoat"]);
  });

  it("hybrid: candidates from the RUM index (where the server has it) rank exactly as ranking every match", async () => {
    const hybrid = (query: string, rumIndex: boolean) =>
      searchStatement({
        retrieval: { kind: "hybrid", query, embedding: embeddingNear("ocean", 0, 1), model },
        filters: { safe: true },
        sort: "relevance",
        limit: 50,
        offset: 0,
        now: new Date("2026-06-01T00:00:00Z"),
        rumIndex,
      });
    const run = async (statement: ReturnType<typeof searchStatement>) => (await db.execute<SearchRow>(statement)).rows[0];
    if (!(await hasRumIndex())) {
      // PGlite has no rum extension: migration 0010 built nothing, and the route never asks for the RUM path.
      expect((await db.execute<{ n: number }>(sql`select count(*)::int as n from pg_available_extensions where name = 'rum'`)).rows[0]?.n).toBe(0);
      return;
    }
    for (const query of ["ocean", "red car", "salad", "view"]) {
      const [exact, rum] = [await run(hybrid(query, false)), await run(hybrid(query, true))];
      expect(exact?.results.length, query).toBeGreaterThan(0);
      expect(
        rum?.results.map((r) => r.id),
        query,
      ).toEqual(exact?.results.map((r) => r.id));
      expect(rum?.total, query).toBe(exact?.total);
    }
    // The RUM statement's keyword leg is served by the index (the table is small enough that the planner needs a nudge).
    const plan = await db.transaction(async (tx) => {
      await tx.execute(sql`set local enable_seqscan = off`);
      await tx.execute(sql`set local enable_sort = off`);
      const explained = await tx.execute<{ "QUERY PLAN": string }>(sql`explain ${hybrid("ocean", true)}`);
      return explained.rows.map((r) => r["QUERY PLAN"]).join("\n");
    });
    expect(plan).toContain(RUM_INDEX);
  });

  it("hybrid: the relative cut-off drops fused results far below the best", async () => {
    const statement = (cutoff: number) =>
      searchStatement({
        retrieval: { kind: "hybrid", query: "salad", embedding: embeddingNear("food", 0, 1), model },
        filters: { contributorId, safe: true },
        sort: "relevance",
        limit: 50,
        offset: 0,
        now: new Date(),
        tuning: { cutoff },
      });
    const run = async (cutoff: number) => {
      const rows = await db.transaction(async (tx) => (await tx.execute<SearchRow>(statement(cutoff))).rows);
      return rows[0]?.results ?? [];
    };
    const all = await run(0);
    const cut = await run(0.6);
    expect(all.length).toBe(10);
    // salad is first in both rankings (2/61); anything only in the semantic ranking scores under 1/61 < 0.6 × 2/61.
    expect(cut.map((r) => keyOf[r.id])).toEqual(["salad"]);
    const best = Math.max(...all.map((r) => r.score));
    expect(all.filter((r) => r.score >= 0.6 * best).map((r) => keyOf[r.id])).toEqual(["salad"]);
  });

  it("degrades to keyword when the embedder fails or is slow", async () => {
    const failing = await searchImages(
      { db: dbHttp, model, embed: () => Promise.reject(new EmbeddingUnavailable("down")), urls: { rendition: (k) => k }, log },
      { q: "ocean", mode: "hybrid", sort: "relevance", perPage: 24, offset: 0, filters: { contributorId, safe: true } },
    );
    expect(failing.mode).toBe("keyword");
    expect(failing.degraded).toEqual(["semantic"]);
    const slow = await searchImages(
      {
        db: dbHttp,
        model,
        embed: () => new Promise((resolve) => setTimeout(() => resolve(embeddingNear("ocean", 0)), 1000)),
        urls: { rendition: (k) => k },
        log,
        embedBudgetMs: 50,
      },
      { q: "ocean", mode: "semantic", sort: "relevance", perPage: 24, offset: 0, filters: { contributorId, safe: true } },
    );
    expect(slow.mode).toBe("keyword");
    expect(slow.degraded).toEqual(["semantic"]);
    expect(new Set(keys(slow))).toEqual(new Set(keys(failing)));
  });
});

describe("filters and facets", () => {
  const visible = CORPUS.filter((l) => !l.hidden);
  const cases: { params: Record<string, string>; expected: (l: Listing) => boolean }[] = [
    { params: { category: "transport" }, expected: (l) => l.category === "transport" },
    { params: { orientation: "portrait" }, expected: (l) => l.size[1] > l.size[0] },
    { params: { orientation: "square" }, expected: (l) => l.size[0] === l.size[1] },
    { params: { colour: "green" }, expected: (l) => l.colour === "green" },
    // #1e5aa8 is a mid blue: the hex maps to its bucket.
    { params: { colour: "#1e5aa8" }, expected: (l) => l.colour === "blue" },
    { params: { license: "editorial" }, expected: (l) => l.editorial === true },
    { params: { license: "standard" }, expected: (l) => l.editorial !== true },
    { params: { minWidth: "1500" }, expected: (l) => l.size[0] >= 1500 },
    { params: { minHeight: "1100" }, expected: (l) => l.size[1] >= 1100 },
    { params: { from: new Date(Date.now() - 60 * 86_400_000).toISOString().slice(0, 10) }, expected: (l) => (l.publishedDaysAgo ?? 100) <= 59 },
    { params: { to: new Date(Date.now() - 200 * 86_400_000).toISOString() }, expected: (l) => (l.publishedDaysAgo ?? 100) > 200 },
    { params: { category: "nature", orientation: "landscape", minWidth: "1000" }, expected: (l) => l.category === "nature" && l.size[0] > l.size[1] && l.size[0] >= 1000 },
  ];

  for (const { params, expected } of cases) {
    it(`returns exactly the visible images matching ${JSON.stringify(params)}, in every mode`, async () => {
      const want = new Set(visible.filter(expected).map((l) => l.key));
      const browse = await search({ ...params, perPage: "100" });
      expect(new Set(keys(browse.body))).toEqual(want);
      expect(browse.body.total).toBe(want.size);
      const keyword = await search({ ...params, q: MARKER, mode: "keyword", perPage: "100" });
      expect(new Set(keys(keyword.body))).toEqual(want);
      const semantic = await serviceSearch("ocean", "semantic", { filters: { contributorId, safe: true, ...toFilters(params) } });
      expect(new Set(keys(semantic))).toEqual(want);
    });
  }

  it("never returns unapproved or withdrawn images, even with safe search off; unsafe and unscored only then", async () => {
    const safeOff = await search({ safe: "false", perPage: "100" });
    expect(new Set(keys(safeOff.body))).toEqual(new Set([...visible.map((l) => l.key), ...UNSAFE]));
    for (const params of [{ q: "ocean car forest", mode: "keyword" }, { q: "ocean", mode: "hybrid" }, { q: MARKER }] as Record<string, string>[]) {
      for (const safe of ["true", "false"]) {
        const { body } = await search({ ...params, safe, perPage: "100" });
        expect(keys(body).filter((k) => NEVER_VISIBLE.includes(k))).toEqual([]);
        if (safe === "true") expect(keys(body).filter((k) => UNSAFE.includes(k))).toEqual([]);
      }
    }
    const semantic = await serviceSearch("ocean", "semantic", { filters: { contributorId, safe: false } });
    expect(keys(semantic).filter((k) => NEVER_VISIBLE.includes(k))).toEqual([]);
    expect(keys(semantic).slice(0, 2).sort()).toEqual(["nsfw", "unscored"]);
  });

  it("counts each facet over the filtered result set, as a direct SQL count does", async () => {
    for (const params of [{ q: MARKER, mode: "keyword" }, { q: "ocean", mode: "keyword", orientation: "landscape" }, { colour: "green" }] as Record<string, string>[]) {
      const { body } = await search(params);
      const tsquery = params.q === "ocean" ? sql`to_tsquery('english', 'ocean | sea | seascape')` : params.q ? sql`to_tsquery('english', ${MARKER})` : null;
      const where = sql.join(
        [
          sql`i.contributor_id = ${contributorId}`,
          // The listing and safe-search rules are checked on their own (test/db/listing-rule.test.ts).
          listedSql("i"),
          safeForSearchSql("i"),
          ...(tsquery ? [sql`i.search_vector @@ ${tsquery}`] : []),
          ...(params.orientation ? [sql`i.orientation = ${params.orientation}`] : []),
          ...(params.colour ? [sql`i.colour_bucket = ${params.colour}`] : []),
        ],
        sql` and `,
      );
      const counts = async (column: ReturnType<typeof sql>) => {
        const { rows } = await db.execute<{ k: string; n: number }>(sql`select ${column} as k, count(*)::int as n from images i where ${where} group by 1`);
        return Object.fromEntries(rows.filter((r) => r.k !== null).map((r) => [r.k, r.n]));
      };
      expect(body.facets.orientations).toEqual(await counts(sql`i.orientation`));
      expect(body.facets.colours).toEqual(await counts(sql`i.colour_bucket`));
      const { rows: cats } = await db.execute<{ k: string; n: number }>(
        sql`select ic.category_slug as k, count(*)::int as n from images i join image_categories ic on ic.image_id = i.id where ${where} group by 1`,
      );
      expect(body.facets.categories).toEqual(Object.fromEntries(cats.map((r) => [r.k, r.n])));
      const editorial = await counts(sql`i.editorial::text`);
      expect(body.facets.licenseTypes).toEqual({ standard: editorial.false ?? 0, enhanced: editorial.false ?? 0, editorial: editorial.true ?? 0 });
      expect(body.total).toBe(Object.values(await counts(sql`'all'`))[0] ?? 0);
    }
  });

  it("past the exact-count limit, counts a sample of pages and says so; at or under it, counts every match", async () => {
    const statement = (retrieval: Parameters<typeof searchStatement>[0]["retrieval"], tuning: NonNullable<Parameters<typeof searchStatement>[0]["tuning"]>, rumIndex = false) =>
      searchStatement({ retrieval, filters: { contributorId, safe: true }, sort: "relevance", limit: 100, offset: 0, now: new Date("2026-06-01T00:00:00Z"), rumIndex, tuning });
    const run = async (s: ReturnType<typeof searchStatement>) => {
      const row = (await db.execute<SearchRow>(s)).rows[0];
      if (!row) throw new Error("no row");
      return row;
    };
    const rum = await hasRumIndex();
    for (const retrieval of [{ kind: "browse" }, { kind: "keyword", query: MARKER }, { kind: "keyword", query: "ocean" }] as const) {
      const exact = await run(statement(retrieval, {}));
      expect(exact.approximate).toBe(false);
      expect(exact.total).toBeGreaterThan(2);
      // The sample takes every page (100%), so the estimate must equal the exact count.
      const atLimit = await run(statement(retrieval, { samplePercent: 100, exactCountLimit: exact.total }));
      const pastLimit = await run(statement(retrieval, { samplePercent: 100, exactCountLimit: exact.total - 1 }, rum));
      expect(atLimit.approximate).toBe(false);
      expect(pastLimit.approximate).toBe(true);
      for (const row of [atLimit, pastLimit]) {
        expect(row.total).toBe(exact.total);
        expect([row.categories, row.orientations, row.colours, row.license_types, row.contributors]).toEqual([
          exact.categories,
          exact.orientations,
          exact.colours,
          exact.license_types,
          exact.contributors,
        ]);
        // Ranked from the counted rows, or past the limit from the page's own order (RUM's pool where the server has it): the same results.
        expect(row.results.map((r) => r.id)).toEqual(exact.results.map((r) => r.id));
      }
      // With a category, checked row by row in the sample: still every match.
      const byCategory = (tuning: NonNullable<Parameters<typeof searchStatement>[0]["tuning"]>) =>
        searchStatement({
          retrieval,
          filters: { contributorId, safe: true, category: "nature" },
          sort: "relevance",
          limit: 100,
          offset: 0,
          now: new Date("2026-06-01T00:00:00Z"),
          tuning,
        });
      const [natureExact, natureSampled] = [await run(byCategory({})), await run(byCategory({ samplePercent: 100, exactCountLimit: 1 }))];
      expect(natureExact.total).toBeGreaterThan(1);
      expect(natureSampled.approximate).toBe(true);
      expect([natureSampled.total, natureSampled.categories, natureSampled.orientations]).toEqual([natureExact.total, natureExact.categories, natureExact.orientations]);
      // Half the pages: each sampled match weighs 2, and the total is never below the limit it passed.
      const half = await run(statement(retrieval, { samplePercent: 50, exactCountLimit: 1 }));
      expect(half.approximate).toBe(true);
      const orientations = Object.values(half.orientations);
      for (const n of orientations) expect(n % 2).toBe(0);
      expect(half.total).toBe(
        Math.max(
          orientations.reduce((a, b) => a + b, 0),
          2,
        ),
      );
      expect(half.results.map((r) => r.id)).toEqual(exact.results.map((r) => r.id));
    }
  });

  it("presents matches ranked elsewhere as the route presents its own, leaving out images no longer listed", async () => {
    const plan = { sort: "relevance", limit: 100, offset: 0 } as const;
    const run = async (s: ReturnType<typeof searchStatement>) => {
      const row = (await db.execute<SearchRow>(s)).rows[0];
      if (!row) throw new Error("no row");
      return row;
    };
    const route = await run(
      searchStatement({ retrieval: { kind: "keyword", query: MARKER }, filters: { contributorId, safe: true }, now: new Date("2026-06-01T00:00:00Z"), ...plan }),
    );
    expect(route.total).toBeGreaterThan(2);
    const hidden = Object.entries(keyOf)
      .filter(([, key]) => NEVER_VISIBLE.includes(key))
      .map(([id]) => ({ id, score: 1e9 }));
    expect(hidden.length).toBe(NEVER_VISIBLE.length);
    const given = await run(givenMatchesStatement([...route.results.map((r) => ({ id: r.id, score: r.score })), ...hidden], plan));
    expect(given.results.map((r) => r.id)).toEqual(route.results.map((r) => r.id));
    expect(given.results.map((r) => [r.title, r.tags, r.prices, r.displayName])).toEqual(route.results.map((r) => [r.title, r.tags, r.prices, r.displayName]));
    expect([given.total, given.approximate, given.categories, given.orientations, given.colours, given.license_types, given.contributors]).toEqual([
      route.total,
      false,
      route.categories,
      route.orientations,
      route.colours,
      route.license_types,
      route.contributors,
    ]);
  });

  it("a search of common words ranks a bounded set of their matches; other searches never do", async () => {
    const rumIndex = await hasRumIndex();
    const statement = (retrieval: Parameters<typeof searchStatement>[0]["retrieval"], commonLexemes: string[] | undefined, limit = 1) =>
      searchStatement({
        retrieval,
        filters: { contributorId, safe: true },
        sort: "relevance",
        limit,
        offset: 0,
        now: new Date("2026-06-01T00:00:00Z"),
        rumIndex,
        commonLexemes,
        // Past the exact-count limit (keyword ranks from its window), one candidate per hybrid leg, a pool of one.
        tuning: { samplePercent: 100, exactCountLimit: 1, candidates: 1, commonPool: 1 },
      });
    const ids = async (s: ReturnType<typeof searchStatement>) => ((await db.execute<SearchRow>(s)).rows[0]?.results ?? []).map((r) => keyOf[r.id]);
    const common = ["ocean", "sea", "seascap", "view", "boat"];
    // The query's embedding points at viewOfSea alone: its nearest match for "sea". The hybrid's keyword
    // leg takes it instead of the best ts_rank ("sea" in a title is ranked below a title and a tag), so both legs agree.
    const towardsViewOfSea = embeddingNear(
      "ocean",
      CORPUS.findIndex((l) => l.key === "viewOfSea"),
      0,
    );
    const hybrid = { kind: "hybrid", query: "sea", embedding: towardsViewOfSea, model } as const;
    expect(await ids(statement(hybrid, common, 5))).toEqual(["viewOfSea"]);
    const rare = await ids(statement(hybrid, undefined, 5));
    // Without the list: the keyword leg's best ts_rank (a title and a tag with the word) joins viewOfSea.
    expect(rare).toContain("viewOfSea");
    expect(rare).toHaveLength(2);
    // Keyword search takes the most popular match (oceanWaves, 5 sales) and ranks within that pool.
    expect(await ids(statement({ kind: "keyword", query: "sea" }, common))).toEqual(["oceanWaves"]);
    // Several common words take the same path; a word not among the common lexemes (alone or beside
    // common ones), an exclusion, a phrase, `or`: ranked as without the list.
    expect(await ids(statement({ ...hybrid, query: "sea view" }, common, 5))).toEqual(["viewOfSea"]);
    for (const query of ["lighthouse", "sea lighthouse", "sea -boat", '"sea view"', "sea or view"]) {
      for (const retrieval of [
        { kind: "keyword", query },
        { ...hybrid, query },
      ] as const) {
        expect(await ids(statement(retrieval, common, 5)), query).toEqual(await ids(statement(retrieval, undefined, 5)));
      }
    }
    expect(await ids(statement({ kind: "keyword", query: "sea" }, undefined, 5))).toEqual(await ids(statement({ kind: "keyword", query: "sea" }, [], 5)));
  });

  it("the route counts approximately only past the limit, and rounds what it estimates", async () => {
    const { roughly } = await import("../../edge/services/catalogue/search");
    expect([roughly(0), roughly(99), roughly(273_393), roughly(981_400), roughly(10_001), roughly(1_250)]).toEqual([0, 99, 270_000, 980_000, 10_000, 1_300]);
    // This file's searches match a few dozen images: exact, whatever the size of the shared test catalogue.
    const { body } = await search({ q: MARKER, mode: "keyword" });
    expect(body.approximate).toBe(false);
  });

  it("shows result cards: URLs from DERIVATIVES_PUBLIC_URL, contributor, tags, prices by license type", async () => {
    const { body } = await search({ q: "automobile", mode: "keyword" });
    const base = String(env.DERIVATIVES_PUBLIC_URL ?? "http://127.0.0.1:8787/v1/derivatives").replace(/\/+$/, "");
    const auto = body.results.find((r) => r.id === id.vintageAuto);
    expect(auto).toMatchObject({
      title: `Vintage automobile in a garage ${MARKER}`,
      thumbnailUrl: `${base}/images/vintageAuto/thumb-450.webp`,
      previewUrl: `${base}/images/vintageAuto/preview-1200.webp`,
      contributor: { id: contributorId, displayName: "Test contributor" },
      width: 1000,
      height: 1000,
      // Editorial: only the editorial license is offered, although a standard price row exists.
      prices: [{ licenseType: "editorial", amountCents: 1500, currency: "usd" }],
    });
    expect(auto?.tags.sort()).toEqual(["automobile", "vintage"]);
    const waves = (await search({ q: "sunset", mode: "keyword" })).body.results[0];
    expect(waves?.prices).toEqual([
      { licenseType: "standard", amountCents: 4900, currency: "usd" },
      { licenseType: "enhanced", amountCents: 12900, currency: "usd" },
    ]);
  });
});

function toFilters(params: Record<string, string>): Partial<SearchRequest["filters"]> {
  const day = 86_400_000;
  return {
    ...(params.category ? { category: params.category } : {}),
    ...(params.orientation ? { orientation: params.orientation as "landscape" | "portrait" | "square" } : {}),
    ...(params.colour ? { colour: params.colour.startsWith("#") ? colourBucket(params.colour) : params.colour } : {}),
    ...(params.license ? { license: params.license as "standard" | "editorial" } : {}),
    ...(params.minWidth ? { minWidth: Number(params.minWidth) } : {}),
    ...(params.minHeight ? { minHeight: Number(params.minHeight) } : {}),
    ...(params.from ? { publishedFrom: new Date(params.from) } : {}),
    ...(params.to ? { publishedBefore: new Date(Date.parse(params.to) + (params.to.length === 10 ? day : 1)) } : {}),
  };
}

describe("pagination", () => {
  it("walks all results by cursor and by page, without duplicates or gaps, in the same order", async () => {
    for (const base of [{ q: MARKER, mode: "keyword" }, { q: "ocean", mode: "hybrid" }, {}, { sort: "newest" }, { sort: "popular" }] as Record<string, string>[]) {
      const everything = (await search({ ...base, perPage: "100" })).body;
      const byCursor: string[] = [];
      let cursor: string | null = null;
      for (let guard = 0; guard < 20; guard++) {
        const { body }: { body: SearchResponse } = await search({ ...base, perPage: "3", ...(cursor ? { cursor } : {}) });
        expect(body.total).toBe(everything.total);
        byCursor.push(...body.results.map((r) => r.id));
        cursor = body.nextCursor;
        if (!cursor) break;
      }
      const byPage: string[] = [];
      for (let page = 1; page <= Math.ceil(everything.total / 3); page++) {
        byPage.push(...(await search({ ...base, perPage: "3", page: String(page) })).body.results.map((r) => r.id));
      }
      expect(byCursor).toEqual(everything.results.map((r) => r.id));
      expect(byPage).toEqual(byCursor);
      expect(new Set(byCursor).size).toBe(byCursor.length);
      expect(byCursor.length).toBe(everything.total);
    }
  });

  it("refuses a cursor from another query", async () => {
    const { body } = await search({ q: MARKER, mode: "keyword", perPage: "2" });
    expect(body.nextCursor).not.toBe(null);
    const res = await api(`/v1/search?${new URLSearchParams({ contributor: contributorId, q: "ocean", mode: "keyword", perPage: "2", cursor: body.nextCursor ?? "" })}`);
    expect(res.status).toBe(422);
    expect(((await res.json()) as Problem).errors?.map((e) => e.path)).toContain("cursor");
  });
});

describe("request validation", () => {
  const bad: [Record<string, string>, string][] = [
    [{ mode: "fuzzy" }, "mode"],
    [{ perPage: "0" }, "perPage"],
    [{ perPage: "101" }, "perPage"],
    [{ colour: "chartreuse" }, "colour"],
    [{ colour: "#12345" }, "colour"],
    [{ orientation: "round" }, "orientation"],
    [{ license: "exclusive" }, "license"],
    [{ from: "2024-13-45" }, "from"],
    [{ from: "2024-05-02", to: "2024-05-01" }, "to"],
    [{ page: "2", cursor: "abc" }, "cursor"],
    [{ page: "1000", perPage: "100" }, "page"],
    [{ q: "x".repeat(201) }, "q"],
    [{ safe: "maybe" }, "safe"],
    [{ sort: "random" }, "sort"],
    [{ imageType: "photo" }, "imageType"],
  ];
  for (const [params, path] of bad) {
    it(`refuses ${JSON.stringify(params).slice(0, 60)} with a 422 problem naming ${path}`, async () => {
      const res = await api(`/v1/search?${new URLSearchParams(params)}`);
      expect(res.status).toBe(422);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      const problem = (await res.json()) as Problem;
      expect(problem.type).toBe(`${PROBLEM_BASE_URI}validation-failed`);
      expect(problem.errors?.map((e) => e.path)).toContain(path);
    });
  }
});

describe("caching, access and rate limits", () => {
  it("answers a repeated request from the cache without querying (a new matching image is not seen until it expires)", async () => {
    const q = `${MARKER} ocean`;
    const first = await search({ q, mode: "keyword" });
    expect(first.res.headers.get("x-cache")).toBe("miss");
    const [extra] = await db
      .insert(images)
      .values({ contributorId, title: `Ocean extra ${MARKER}`, status: "approved", nsfwScore: 0, width: 10, height: 10, publishedAt: new Date() })
      .returning({ id: images.id });
    try {
      const second = await search({ q, mode: "keyword" });
      expect(second.res.headers.get("x-cache")).toBe("hit");
      expect(second.body).toEqual(first.body);
      // Cache-Control: no-cache asks for a fresh answer, which then replaces the entry.
      const fresh = await search({ q, mode: "keyword" }, { headers: { "cache-control": "no-cache" } });
      expect(fresh.res.headers.get("x-cache")).toBe("miss");
      expect(fresh.body.total).toBe(first.body.total + 1);
      expect((await search({ q, mode: "keyword" })).body.total).toBe(first.body.total + 1);
      // Any other parameter is another cache entry, and sees the new image.
      const other = await search({ q, mode: "keyword", perPage: "23" });
      expect(other.res.headers.get("x-cache")).toBe("miss");
      expect(other.body.total).toBe(first.body.total + 1);
    } finally {
      await db.execute(sql`delete from images where id = ${extra?.id ?? null}`);
    }
  });

  it("retires cached searches when an image is taken down or withdrawn", async () => {
    const owner = await signUp("contributor");
    const admin = await signUp("admin");
    const word = `${MARKER} retired`;
    const listed = async () => {
      const [row] = await db
        .insert(images)
        .values({
          contributorId: owner.userId,
          title: `Retired harbour ${MARKER}`,
          status: "approved",
          stage: "done",
          nsfwScore: 0,
          width: 10,
          height: 10,
          publishedAt: new Date(Date.now() - 60_000),
        })
        .returning({ id: images.id });
      return row?.id ?? "";
    };
    const [a, b] = [await listed(), await listed()];
    const first = await search({ q: word, mode: "keyword", contributor: owner.userId });
    expect(first.body.total, JSON.stringify(first.body)).toBe(2);
    expect((await search({ q: word, mode: "keyword", contributor: owner.userId })).res.headers.get("x-cache")).toBe("hit");

    expect((await api(`/v1/admin/images/${a}/takedown`, { method: "POST", token: admin.accessToken, json: { reason: "Copyright claim" } })).status).toBe(200);
    const afterTakedown = await search({ q: word, mode: "keyword", contributor: owner.userId });
    expect(afterTakedown.res.headers.get("x-cache")).toBe("miss");
    expect(afterTakedown.body.results.map((item) => item.id)).toEqual([b]);

    expect((await search({ q: word, mode: "keyword", contributor: owner.userId })).res.headers.get("x-cache")).toBe("hit");
    expect((await api(`/v1/images/${b}`, { method: "DELETE", token: owner.accessToken })).status).toBe(200);
    const afterWithdrawal = await search({ q: word, mode: "keyword", contributor: owner.userId });
    expect(afterWithdrawal.res.headers.get("x-cache")).toBe("miss");
    expect(afterWithdrawal.body.total).toBe(0);
  });

  it("is publicly cacheable for anonymous callers and private for signed-in ones", async () => {
    const keywordOnly = await search({ q: "fog", mode: "keyword" });
    expect(keywordOnly.res.headers.get("cache-control")).toBe("public, max-age=60");
    // Degraded answers are kept for less time, so a recovered service shows soon.
    const degraded = await search({ q: "fog" }, { target: workerWith({ EMBED_SERVICE_URL: "" }) });
    expect(degraded.body.degraded).toEqual(["semantic"]);
    expect(degraded.res.headers.get("cache-control")).toBe("public, max-age=10");
    const buyer = await signUp("buyer");
    const signedIn = await search({ q: "fog", mode: "keyword" }, { token: buyer.accessToken });
    expect(signedIn.res.headers.get("cache-control")).toBe("private, no-store");
  });

  it("lets API keys with search:read through and refuses keys without it", async () => {
    const buyer = await signUp("buyer");
    const keyWith = async (scopes: string[]) => {
      const res = await api("/v1/api-keys", { method: "POST", token: buyer.accessToken, json: { name: "search", scopes } });
      return ((await res.json()) as { secret: string }).secret;
    };
    const ok = await search({ q: "fog", mode: "keyword" }, { apiKey: await keyWith(["search:read"]) });
    expect(keys(ok.body)).toEqual(["pineForest"]);
    const refused = await api(`/v1/search?q=fog`, { apiKey: await keyWith(["account:read"]) });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as Problem).type).toBe(`${PROBLEM_BASE_URI}insufficient-scope`);
  });

  it("limits requests per IP with a 429 problem and Retry-After", async () => {
    const ip = `203.0.113.${Math.floor(Math.random() * 250)}`;
    const path = `/v1/search?${new URLSearchParams({ contributor: contributorId, q: "fog", mode: "keyword" })}`;
    // The sliding window's estimate weighs the previous minute by the share of it still inside the
    // window, so when a minute turns during the loop a request or two more may pass: never fewer than 120.
    let passed = 0;
    let limited = await api(path, { ip });
    while (limited.status === 200 && passed < 140) {
      passed += 1;
      limited = await api(path, { ip });
    }
    expect(passed).toBeGreaterThanOrEqual(120);
    expect(passed).toBeLessThan(140);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    const problem = (await limited.json()) as Problem;
    expect(problem.type).toBe(`${PROBLEM_BASE_URI}rate-limited`);
    expect((await api(path, { ip: "203.0.113.251" })).status).toBe(200);
  });
});

describe("graceful degradation", () => {
  it("answers in keyword mode with degraded: semantic when no embedding service is configured", async () => {
    const target = workerWith({ EMBED_SERVICE_URL: "" });
    for (const mode of ["hybrid", "semantic"]) {
      const { body } = await search({ q: "ocean", mode }, { target });
      expect(body.mode).toBe("keyword");
      expect(body.degraded).toEqual(["semantic"]);
      expect(keys(body)).toContain("calmSea");
    }
  });

  it("uses the embedding service when it answers, and falls back when it is slow", async () => {
    const target = workerWith({ EMBED_SERVICE_URL: "http://embed.test", WORKER_SHARED_SECRET: "secret" });
    const realFetch = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input, init);
      if (!request.url.startsWith("http://embed.test/")) return realFetch(input, init);
      const { texts } = (await request.json()) as { texts: string[] };
      if (texts[0]?.includes("slow")) await new Promise((resolve) => setTimeout(resolve, 400));
      return Response.json({ model: "fake-clip", version: "1", dimensions: TEST_MODEL.dimensions, embeddings: [await fakeEmbed(texts[0] ?? "")] });
    });
    const semantic = await search({ q: "wavy water", mode: "semantic" }, { target });
    expect(semantic.body.mode).toBe("semantic");
    expect(semantic.body.degraded).toEqual([]);
    expect(keys(semantic.body).slice(0, 3)).toEqual(["oceanWaves", "calmSea", "oceanBoat"]);
    const slow = await search({ q: "slow ocean", mode: "hybrid" }, { target });
    expect(slow.body.mode).toBe("keyword");
    expect(slow.body.degraded).toEqual(["semantic"]);
  });

  it("serves uncached results with degraded: cache when the store fails", async () => {
    const target = workerWith({ UPSTASH_REDIS_REST_URL: "https://store.test", UPSTASH_REDIS_REST_TOKEN: "token" });
    const realFetch = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      if (new Request(input, init).url.startsWith("https://store.test")) throw new TypeError("network connection lost");
      return realFetch(input, init);
    });
    const { res, body } = await search({ q: "lighthouse", mode: "keyword" }, { target });
    expect(res.headers.get("x-cache")).toBe("unavailable");
    expect(body.degraded).toEqual(["cache"]);
    expect(keys(body)).toEqual(["lighthouse"]);
  });

  it("answers 503 with a problem when the database is down", async () => {
    const target = workerWith({ DATABASE_URL: "postgres://postgres:postgres@127.0.0.1:9/postgres" });
    const res = await api(`/v1/search?q=ocean&mode=keyword`, { target });
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    const problem = (await res.json()) as Problem & { requestId: string };
    expect(problem.type).toBe(`${PROBLEM_BASE_URI}service-unavailable`);
    expect(problem.requestId).toBe(res.headers.get("x-request-id"));
  });
});

describe("GET /v1/search/suggest", () => {
  it("completes a prefix with tags of visible, safe images only, most used first", async () => {
    const tag = (key: string, value: string) => ({ imageId: id[key] ?? "", tag: value, source: "contributor" as const });
    await db
      .insert(imageTags)
      .values([
        tag("oceanWaves", `${MARKER}sky`),
        tag("salad", `${MARKER}sky`),
        tag("redCar", `${MARKER}street`),
        ...["pending", "withdrawn", "nsfw", "unscored"].map((key) => tag(key, `${MARKER}secret`)),
      ]);
    const res = await api(`/v1/search/suggest?q=${MARKER}&limit=5`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("public, max-age=300");
    expect(((await res.json()) as { suggestions: unknown }).suggestions).toEqual([
      { tag: `${MARKER}sky`, images: 2 },
      { tag: `${MARKER}street`, images: 1 },
    ]);
  });

  it("is typo tolerant: when no tag starts with the text, the closest tags by trigram similarity", async () => {
    await db.insert(imageTags).values({ imageId: id.oceanWaves ?? "", tag: `${MARKER}harbour`, source: "contributor" });
    const res = await api(`/v1/search/suggest?q=${MARKER}harbuor`);
    const { suggestions } = (await res.json()) as { suggestions: { tag: string }[] };
    expect(suggestions.map((s) => s.tag)).toContain(`${MARKER}harbour`);
  });

  /** Popular searches offered for a prefix, once the background recording of earlier searches has landed. */
  async function popular(prefix: string, expectSome: boolean) {
    let queries: { query: string; searches: number }[] = [];
    for (let attempt = 0; attempt < 20; attempt++) {
      const res = await api(`/v1/search/suggest?q=${encodeURIComponent(prefix)}`);
      queries = ((await res.json()) as { queries: typeof queries }).queries;
      if (queries.length > 0 === expectSome) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return queries;
  }

  it("offers a search once three distinct people ran it and found something, most searchers first", async () => {
    const run = (q: string, ip?: string) => search({ q, mode: "keyword" }, ip ? { ip } : {});
    // One searcher, however often: never a suggestion.
    const ip = `192.0.2.${Math.floor(Math.random() * 250)}`;
    for (let i = 0; i < 5; i++) await run(`${MARKER}  Lighthouse`, ip);
    await run(`${MARKER} lighthouse nothing-matches-this-zzz`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await popular(`${MARKER} ligh`, false)).toEqual([]);
    // Two more searchers (each call comes from a fresh IP), cache hits included.
    await run(`${MARKER} lighthouse`);
    await run(`${MARKER} LIGHTHOUSE`);
    const queries = await popular(`${MARKER} ligh`, true);
    expect(queries[0]).toEqual({ query: `${MARKER} lighthouse`.toLowerCase(), searches: 3 });
    expect(queries.map((q) => q.query)).not.toContain(`${MARKER} lighthouse nothing-matches-this-zzz`.toLowerCase());
  });

  it("forgets who asked a search after 30 days, keeping the count they made", async () => {
    const query = `${MARKER} forgotten harbour`.toLowerCase();
    await db.insert(searchQueries).values({ query, count: 2, searchers: 2 });
    await db.insert(searchQuerySearchers).values([
      { query, searcher: "old", firstSeenAt: new Date(Date.now() - 31 * 86_400_000) },
      { query, searcher: "recent", firstSeenAt: new Date(Date.now() - 86_400_000) },
    ]);
    expect(await purgeOldSearchers(db)).toBeGreaterThanOrEqual(1);
    expect((await db.select().from(searchQuerySearchers).where(eq(searchQuerySearchers.query, query))).map((row) => row.searcher)).toEqual(["recent"]);
    expect((await db.select().from(searchQueries).where(eq(searchQueries.query, query)))[0]?.searchers).toBe(2);
  });

  it("offers only normalised text, never markup, and never a search an admin blocked", async () => {
    const hostile = `${MARKER} lighthouse or "<img src=x onerror=alert(1)>"`;
    for (let i = 0; i < 3; i++) expect((await search({ q: hostile, mode: "keyword" })).body.total).toBeGreaterThan(0);
    const expected = `${MARKER} lighthouse or img src x onerror alert 1`.toLowerCase();
    const offered = await popular(`${MARKER} lighthouse or`, true);
    expect(offered.map((q) => q.query)).toEqual([expected]);
    for (const { query } of offered) expect(query).not.toMatch(/[<>"=()]/);

    const admin = await signUp("admin");
    const blocked = await api("/v1/admin/search-queries/block", { method: "POST", token: admin.accessToken, json: { query: hostile } });
    expect(blocked.status).toBe(200);
    expect(await blocked.json()).toMatchObject({ query: expected, blocked: true, suggested: false, searchers: 3 });
    expect(await popular(`${MARKER} lighthouse or`, false)).toEqual([]);
    const listed = await api(`/v1/admin/search-queries?q=${encodeURIComponent(`${MARKER} lighthouse or`)}&blocked=true`, { token: admin.accessToken });
    expect(((await listed.json()) as { items: { query: string }[] }).items.map((q) => q.query)).toEqual([expected]);
    const unblocked = await api("/v1/admin/search-queries/unblock", { method: "POST", token: admin.accessToken, json: { query: expected } });
    expect(await unblocked.json()).toMatchObject({ blocked: false, suggested: true });
  });

  it("treats LIKE wildcards in the prefix as characters", async () => {
    for (const q of ["%", "_", "\\"]) {
      const res = await api(`/v1/search/suggest?q=${encodeURIComponent(q)}`);
      expect(res.status).toBe(200);
      const { suggestions } = (await res.json()) as { suggestions: { tag: string }[] };
      expect(suggestions.every((s) => s.tag.startsWith(q))).toBe(true);
    }
  });

  it("refuses a missing or overlong prefix and a bad limit with 422 problems", async () => {
    for (const [query, path] of [
      ["", "q"],
      [`q=${"a".repeat(51)}`, "q"],
      ["q=sea&limit=21", "limit"],
      ["q=sea&limit=0", "limit"],
    ]) {
      const res = await api(`/v1/search/suggest?${query}`);
      expect(res.status).toBe(422);
      expect(((await res.json()) as Problem).errors?.map((e) => e.path)).toContain(path);
    }
  });
});

async function hasRumIndex(): Promise<boolean> {
  return (await db.execute<{ rumIndex: boolean }>(catalogueProbeStatement())).rows[0]?.rumIndex === true;
}

describe("database support", () => {
  it("has the RUM index on search_vector exactly where the server offers the rum extension (migration 0010)", async () => {
    const available = (await db.execute<{ n: number }>(sql`select count(*)::int as n from pg_available_extensions where name = 'rum'`)).rows[0]?.n === 1;
    expect(await hasRumIndex()).toBe(available);
  });

  it("has pgvector 0.8.0 or later (iterative index scans)", async () => {
    const { rows } = await db.execute<{ v: string }>(sql`select extversion as v from pg_extension where extname = 'vector'`);
    const [major = 0, minor = 0] = (rows[0]?.v ?? "0.0").split(".").map(Number);
    expect(major > 0 || minor >= 8).toBe(true);
  });
});

describe("POST /v1/search/by-image", () => {
  const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4]);
  const upload = (target: WorkerTarget | undefined, body: Uint8Array, type = "image/jpeg", query = "") =>
    api(`/v1/search/by-image${query}`, { method: "POST", headers: { "content-type": type }, body, ...(target ? { target } : {}) });

  /** The worker's /embed/image as a stub: the "image" is about wavy water, unless it is unreadable. */
  function withImageService() {
    const target = workerWith({ EMBED_SERVICE_URL: "http://embed.test", WORKER_SHARED_SECRET: "secret" });
    const realFetch = globalThis.fetch;
    const seen: { auth: string | null; type: string | null; bytes: number }[] = [];
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
      const request = new Request(input, init);
      if (!request.url.startsWith("http://embed.test/")) return realFetch(input, init);
      const bytes = new Uint8Array(await request.arrayBuffer());
      seen.push({ auth: request.headers.get("authorization"), type: request.headers.get("content-type"), bytes: bytes.length });
      if (request.url !== "http://embed.test/embed/image?model=fake-clip") return new Response("wrong route", { status: 404 });
      if (bytes[4] === 0xee) return Response.json({ type: "x", status: 422, detail: "the image could not be decoded: bad data" }, { status: 422 });
      return Response.json({ model: "fake-clip", version: "1", dimensions: TEST_MODEL.dimensions, embedding: await fakeEmbed("wavy water") });
    });
    return { target, seen };
  }

  it("finds visually similar approved images through the worker's image embedding, storing nothing", async () => {
    const { target, seen } = withImageService();
    const before = await db.$count(images);
    const res = await upload(target, jpeg, "image/jpeg", "?perPage=3");
    expect(res.status).toBe(200);
    const body = (await res.json()) as SearchResponse;
    expect(body.mode).toBe("semantic");
    expect(keys(body)).toEqual(["oceanWaves", "calmSea", "oceanBoat"]);
    expect(seen).toEqual([{ auth: "Bearer secret", type: "image/jpeg", bytes: jpeg.length }]);
    expect(res.headers.get("cache-control")).toBe("private, no-store");
    expect(await db.$count(images)).toBe(before);
  });

  it("refuses other types (415), empty bodies and unreadable images (422), and huge ones (413)", async () => {
    const { target } = withImageService();
    const gif = await upload(target, jpeg, "image/gif");
    expect(gif.status).toBe(415);
    expect(((await gif.json()) as { accepted: string[] }).accepted).toContain("image/webp");
    expect((await upload(target, new Uint8Array(0))).status).toBe(422);
    const unreadable = await upload(target, new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0xee]));
    expect(unreadable.status).toBe(422);
    expect(((await unreadable.json()) as { detail: string }).detail).toContain("could not be decoded");
    const huge = await upload(target, new Uint8Array(10 * 1024 * 1024 + 1));
    expect(huge.status).toBe(413);
    expect(huge.headers.get("content-type")).toBe("application/problem+json");
  });

  it("answers 503 when no embedding service is configured", async () => {
    const res = await upload(undefined, jpeg);
    expect(res.status).toBe(503);
    expect(((await res.json()) as Problem).type).toBe(`${PROBLEM_BASE_URI}service-unavailable`);
  });
});
