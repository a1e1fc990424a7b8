/**
 * Edgestock's search against LanceDB on the same corpus, queries and visibility filter, in one run,
 * interleaved query by query (Postgres then LanceDB, then the other way round), single client, warm:
 *
 *   - vector: top 20 by cosine distance, without and with the selective filter (category + portrait);
 *     recall@20 of each against the exact answer (a sequential scan in Postgres), mean and worst query;
 *   - keyword: top 20 for the topic's two core words (Postgres ts_rank over search_vector, LanceDB BM25);
 *   - hybrid: RRF (k 60) of the top 100 of each ranking;
 *   - the route: the statement GET /v1/search runs for the same hybrid query (total, facets, prices,
 *     tags: edge/services/catalogue/search-sql.ts, with the catalogue facts the route reads), against
 *     LanceDB's hybrid query;
 *   - full search: the route's statement against what a LanceDB-backed route would run for the same
 *     answer: LanceDB's hybrid top 100, then the route's cards and facets over them from Postgres
 *     (givenMatchesStatement), two round trips;
 *   - "on topic": the share of the results from the query's own topic (load.ts keeps it), the quality
 *     measure both engines share for keyword and hybrid results;
 *   - throughput: the hybrid, the route statement and the full search in a closed loop of --clients
 *     clients (default 8) for --seconds each (default 10), each engine in turn, with the machine's
 *     CPU per query (both engines run on this machine, so the CPU is comparable).
 *
 * Postgres is the database load.ts filled (DATABASE_URL, default the CI cluster's edgestock_bench) with
 * its own settings (hnsw.ef_search as the database's default); LanceDB (@lancedb/lancedb 0.31.0,
 * installed on first use into .tmp/bench-tools, not a project dependency) gets the same rows from the
 * corpus generator: an IVF_HNSW_SQ index (cosine) and an FTS index, at their defaults.
 *
 *   bun scripts/bench/search/lancedb.ts [--queries N] [--dir .tmp/lancedb] [--clients 8] [--seconds 10]
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { PoolClient } from "@neondatabase/serverless";
import { PgDialect } from "drizzle-orm/pg-core";
import { givenMatchesStatement, HYBRID_CANDIDATES, searchStatement } from "../../../edge/services/catalogue/search-sql";
import { recordFigures } from "../lib/figures";
import { SearchCorpus, type TopicQuery, vectorLiteral } from "./corpus";
import {
  BENCH_MODEL,
  BENCH_VECTORS,
  benchDistance,
  type CorpusStamp,
  catalogueFacts,
  ms,
  openBenchDatabase,
  percentile,
  seconds,
  serverSettings,
  sizeLabel,
  withBenchCorpus,
} from "./db";

const figures = recordFigures("search-lancedb");

const LANCEDB_VERSION = "0.31.0";
const ARROW_VERSION = "18.1.0";
const { values: args } = parseArgs({
  options: { queries: { type: "string" }, dir: { type: "string" }, clients: { type: "string" }, seconds: { type: "string" } },
});
const CLIENTS = Number(args.clients ?? 8);
const LOOP_SECONDS = Number(args.seconds ?? 10);
const root = resolve(import.meta.dir, "../../..");
const K = 20;
const CANDIDATES = 100;
const RRF_K = 60;
/** The route statement's page, as before. */
const PAGE = 25;

/** @lancedb/lancedb from .tmp/bench-tools, installed there with npm the first time. */
function loadLanceDb() {
  const tools = resolve(root, ".tmp/bench-tools");
  const entry = resolve(tools, "node_modules/@lancedb/lancedb/package.json");
  if (!existsSync(entry)) {
    mkdirSync(tools, { recursive: true });
    console.log(`installing @lancedb/lancedb@${LANCEDB_VERSION} into ${tools} (once)`);
    execFileSync("npm", ["install", "--no-save", "--no-audit", "--no-fund", "--prefix", tools, `@lancedb/lancedb@${LANCEDB_VERSION}`, `apache-arrow@${ARROW_VERSION}`], {
      stdio: "inherit",
    });
  }
  // LanceDB sizes its compute pool by the cores (2 here), and with that pool its FTS index build at
  // 1M rows stopped after 11 s of CPU and waited forever (twice, under Bun and under Node); 4 threads
  // build it in 6 s. Queries share the pool: the figures say how many threads it had.
  process.env.LANCE_CPU_THREADS ??= String(Math.max(4, navigator.hardwareConcurrency));
  // Its Rust core logs a deprecation warning per query otherwise.
  process.env.LANCEDB_LOG ??= "error";
  process.env.RUST_LOG ??= "error";
  process.env.LANCE_LOG ??= "error";
  return createRequire(entry)("@lancedb/lancedb") as LanceDb;
}

/** The package is not a project dependency (installed on first use), so its types are not at hand here. */
// biome-ignore lint/suspicious/noExplicitAny: the LanceDB module, typed loosely on purpose (see above)
type LanceDb = any;

const VISIBLE = "status = 'approved' and withdrawn_at is null";
const FILTER = (c: number, o: number) => `orientation = $${o} and exists (select 1 from image_categories ic where ic.image_id = images.id and ic.category_slug = $${c})`;
const PG = {
  vector: (filtered: boolean) => `select id from ${BENCH_VECTORS} where ${VISIBLE}${filtered ? ` and ${FILTER(2, 3)}` : ""} order by ${benchDistance(1)} limit ${K}`,
  keyword: `select id from images, websearch_to_tsquery('english', $1) query where search_vector @@ query and ${VISIBLE}
    order by ts_rank(search_vector, query) desc, id limit ${K}`,
  hybrid: `with keyword as (
  select id, row_number() over (order by rank desc, id) as rank from (
    select id, ts_rank(search_vector, query) as rank from images, websearch_to_tsquery('english', $1) query
    where search_vector @@ query and ${VISIBLE} order by rank desc, id limit ${CANDIDATES}) best
), semantic as (
  select id, row_number() over (order by distance) as rank from (
    select id, ${benchDistance(2)} as distance from ${BENCH_VECTORS} where ${VISIBLE} order by ${benchDistance(2)} limit ${CANDIDATES}) nearest
)
select id, sum(1.0 / (${RRF_K} + rank)) as score from (select id, rank from keyword union all select id, rank from semantic) ranked
group by id order by score desc, id limit ${K}`,
};

await withBenchCorpus(run);

/** Busy CPU time of the whole machine so far, in core-milliseconds (/proc/stat counts in 1/100 s). */
function machineCpuMs(): number {
  const fields = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) * 10;
}

async function run(c: PoolClient, stamp: CorpusStamp, url: string) {
  figures.rename(`search-lancedb-${sizeLabel(stamp.size)}`);
  const corpus = new SearchCorpus(stamp);
  const queries = corpus.queries().slice(0, Number(args.queries ?? stamp.topics));
  const lancedb = loadLanceDb();
  console.log(
    `${stamp.size.toLocaleString("en")} images (seed ${stamp.seed}), ${queries.length} topic queries; ${await serverSettings(c)}; LanceDB compute threads ${process.env.LANCE_CPU_THREADS}`,
  );

  const dir = resolve(root, args.dir ?? `.tmp/lancedb-${stamp.size}-${stamp.seed}`);
  const db = await lancedb.connect(dir);
  let table: LanceDb;
  // A table holding every embedded image is reused, and only its missing indexes are built: a run
  // killed while building them (the vector index alone takes about 25 minutes at 1M here) resumes.
  const embedded = (await c.query<{ n: number }>(`select count(*)::int as n from image_embeddings where model_id = ${BENCH_MODEL.id}`)).rows[0]?.n ?? 0;
  const existing = (await db.tableNames()).includes("images") ? await db.openTable("images") : null;
  if (existing && (await existing.countRows()) === embedded) {
    table = existing;
    console.log(`LanceDB table reused from ${dir} (${embedded} rows)`);
  } else {
    const t = performance.now();
    let rows: Record<string, unknown>[] = [];
    let first = true;
    for (const image of corpus.images()) {
      // Images without an embedding are still processing: never visible, so LanceDB leaves them out.
      if (image.embedding === null) continue;
      rows.push({
        id: image.id,
        vector: Array.from(image.embedding),
        text: `${image.title} ${image.description} ${image.tags.map((tag) => tag.tag).join(" ")}`,
        visible: image.status === "approved" && image.withdrawnAt === null,
        orientation: image.width > image.height ? "landscape" : image.width < image.height ? "portrait" : "square",
        categories: image.categories.map((category) => category.slug),
      });
      if (rows.length === 10_000) {
        if (first) table = await db.createTable("images", rows, { mode: "overwrite" });
        else await table.add(rows);
        first = false;
        rows = [];
      }
    }
    if (rows.length > 0) {
      if (first) table = await db.createTable("images", rows, { mode: "overwrite" });
      else await table.add(rows);
    }
    console.log(`LanceDB load ${seconds(t).toFixed(1)} s (${dir})`);
  }
  const indexes: [column: string, config: () => unknown][] = [
    ["vector", () => lancedb.Index.hnswSq({ distanceType: "cosine" })],
    ["text", () => lancedb.Index.fts()],
    ["visible", () => lancedb.Index.bitmap()],
    ["orientation", () => lancedb.Index.bitmap()],
    ["categories", () => lancedb.Index.labelList()],
  ];
  const indexed = new Set((await table.listIndices()).flatMap((index: { columns: string[] }) => index.columns));
  for (const [column, config] of indexes) {
    if (indexed.has(column)) continue;
    const i = performance.now();
    await table.createIndex(column, { config: config(), waitTimeoutSeconds: 3600 });
    console.log(`LanceDB index on ${column} built in ${seconds(i).toFixed(1)} s`);
  }
  const lance = table;
  const lanceFilter = (q: TopicQuery, filtered: boolean) =>
    `visible = true${filtered ? ` and orientation = '${q.filter.orientation}' and array_has_any(categories, ['${q.filter.category}'])` : ""}`;
  const ids = (rows: { id: string }[]) => rows.map((r) => r.id);
  const reranker = await lancedb.rerankers.RRFReranker.create(RRF_K);

  /** LanceDB's hybrid query: its FTS and vector results fused by its RRF reranker, visible rows only. */
  const hybridRows = (q: TopicQuery, limit: number) =>
    lance.query().fullTextSearch(q.text).nearestTo(Array.from(q.embedding)).distanceType("cosine").where("visible = true").rerank(reranker).select(["id"]).limit(limit).toArray();
  const LANCE = {
    vector: async (q: TopicQuery, filtered: boolean) =>
      ids(await lance.vectorSearch(Array.from(q.embedding)).distanceType("cosine").where(lanceFilter(q, filtered)).select(["id"]).limit(K).toArray()),
    keyword: async (q: TopicQuery) => ids(await lance.search(q.text, "fts").where("visible = true").select(["id"]).limit(K).toArray()),
    hybrid: async (q: TopicQuery) => ids(await hybridRows(q, K)),
    /** LanceDB's hybrid top 100 with its RRF scores: the matched set a LanceDB-backed route would present. */
    scored: async (q: TopicQuery) => (await hybridRows(q, HYBRID_CANDIDATES)).map((row: { id: string; _relevance_score: number }) => ({ id: row.id, score: row._relevance_score })),
  };

  // The exact answers, for recall.
  const t = performance.now();
  const exact = { plain: [] as Set<string>[], filtered: [] as Set<string>[] };
  await c.query("begin");
  await c.query("set local enable_indexscan = off");
  for (const q of queries) {
    exact.plain.push(new Set(ids((await c.query<{ id: string }>(PG.vector(false), [vectorLiteral(q.embedding)])).rows)));
    exact.filtered.push(new Set(ids((await c.query<{ id: string }>(PG.vector(true), [vectorLiteral(q.embedding), q.filter.category, q.filter.orientation])).rows)));
  }
  await c.query("commit");
  console.log(`exact top-${K} for ${queries.length} queries x 2 in ${seconds(t).toFixed(1)} s\n`);

  const dialect = new PgDialect();
  const facts = await catalogueFacts(c);
  const route = (q: TopicQuery) =>
    dialect.sqlToQuery(
      searchStatement({
        retrieval: { kind: "hybrid", query: q.text, embedding: Array.from(q.embedding), model: BENCH_MODEL },
        filters: { safe: false },
        sort: "relevance",
        limit: PAGE,
        offset: 0,
        now: new Date("2026-01-01T00:00:00Z"),
        rumIndex: facts.rumIndex,
        catalogueRows: facts.catalogueRows ?? undefined,
        commonLexemes: facts.commonLexemes,
      }),
    );
  const cards = (matches: { id: string; score: number }[]) => dialect.sqlToQuery(givenMatchesStatement(matches, { sort: "relevance", limit: PAGE, offset: 0 }));
  type Queryable = Pick<PoolClient, "query">;
  type Kind = {
    name: string;
    pg: (q: TopicQuery, db?: Queryable) => Promise<string[]>;
    lance: (q: TopicQuery, db?: Queryable) => Promise<string[]>;
    truth?: (i: number) => Set<string>;
    /** Report the share of results from the query's topic. */
    topical?: boolean;
    /** Measured in the closed loop too. */
    looped?: boolean;
  };
  const pgIds = async (text: string, params: unknown[], db: Queryable = c) => ids((await db.query<{ id: string }>(text, params)).rows);
  const presented = async (text: string, params: unknown[], db: Queryable) => ids((await db.query<{ results: { id: string }[] }>(text, params)).rows[0]?.results ?? []);
  /** The route's statement for the query, its page's ids. */
  const routeIds = (q: TopicQuery, db: Queryable = c) => {
    const { sql, params } = route(q);
    return presented(sql, params, db);
  };
  const kinds: Kind[] = [
    { name: "vector", pg: (q) => pgIds(PG.vector(false), [vectorLiteral(q.embedding)]), lance: (q) => LANCE.vector(q, false), truth: (i) => exact.plain[i] as Set<string> },
    {
      name: "vector + filter",
      pg: (q) => pgIds(PG.vector(true), [vectorLiteral(q.embedding), q.filter.category, q.filter.orientation]),
      lance: (q) => LANCE.vector(q, true),
      truth: (i) => exact.filtered[i] as Set<string>,
    },
    { name: "keyword", pg: (q, db) => pgIds(PG.keyword, [q.text], db), lance: LANCE.keyword, topical: true },
    { name: "hybrid", pg: (q, db) => pgIds(PG.hybrid, [q.text, vectorLiteral(q.embedding)], db), lance: LANCE.hybrid, topical: true, looped: true },
    { name: "route statement (hybrid)", pg: routeIds, lance: LANCE.hybrid, topical: true, looped: true },
    {
      name: "full search (cards)",
      pg: routeIds,
      lance: async (q, db = c) => {
        const { sql, params } = cards(await LANCE.scored(q));
        return presented(sql, params, db);
      },
      topical: true,
      looped: true,
    },
  ];
  /** Share of the results from the query's own topic (load.ts keeps it in metadata.benchTopic). */
  const onTopic = async (q: TopicQuery, found: string[]) => {
    if (found.length === 0) return 0;
    const { rows } = await c.query<{ n: number }>(`select count(*)::int as n from images where id = any($1::uuid[]) and (metadata->>'benchTopic')::int = $2`, [found, q.topic]);
    return (rows[0]?.n ?? 0) / found.length;
  };

  // Warm both once.
  for (const q of queries) for (const kind of kinds) await Promise.all([kind.pg(q), kind.lance(q)].map((p) => p.catch(() => [])));

  console.log(
    `${"query".padEnd(26)} ${"Postgres p50".padStart(12)} ${"p95".padStart(8)} ${"p99".padStart(8)} ${"LanceDB p50".padStart(12)} ${"p95".padStart(8)} ${"p99".padStart(8)} ${"PG/Lance p50".padStart(12)} ${"recall PG".padStart(10)} ${"worst".padStart(6)} ${"recall Lance".padStart(12)} ${"worst".padStart(6)} ${"on topic PG".padStart(11)} ${"Lance".padStart(6)}`,
  );
  for (const kind of kinds) {
    const times = { pg: [] as number[], lance: [] as number[] };
    const recall = { pg: [] as number[], lance: [] as number[] };
    const topic = { pg: [] as number[], lance: [] as number[] };
    for (const [i, q] of queries.entries()) {
      const order = i % 2 === 0 ? (["pg", "lance"] as const) : (["lance", "pg"] as const);
      for (const side of order) {
        const started = performance.now();
        const found = await kind[side](q);
        times[side].push(performance.now() - started);
        const truth = kind.truth?.(i);
        if (truth) recall[side].push(truth.size === 0 ? 1 : found.filter((id) => truth.has(id)).length / truth.size);
        if (kind.topical) topic[side].push(await onTopic(q, found.slice(0, K)));
      }
    }
    const mean = (xs: number[]) => (xs.length ? (xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(3) : "-");
    const worst = (xs: number[]) => (xs.length ? Math.min(...xs).toFixed(2) : "-");
    const p = (xs: number[], at: number) => ms(percentile(xs, at));
    console.log(
      `${kind.name.padEnd(26)} ${p(times.pg, 50).padStart(12)} ${p(times.pg, 95).padStart(8)} ${p(times.pg, 99).padStart(8)} ${p(times.lance, 50).padStart(12)} ${p(times.lance, 95).padStart(8)} ${p(times.lance, 99).padStart(8)} ${(percentile(times.pg, 50) / percentile(times.lance, 50)).toFixed(2).padStart(12)} ${mean(recall.pg).padStart(10)} ${worst(recall.pg).padStart(6)} ${mean(recall.lance).padStart(12)} ${worst(recall.lance).padStart(6)} ${mean(topic.pg).padStart(11)} ${mean(topic.lance).padStart(6)}`,
    );
  }
  console.log(
    `\n"full search": the route's statement, against LanceDB's hybrid top ${HYBRID_CANDIDATES} presented by the route's cards and facets from Postgres (a second round trip). "on topic": share of the top ${K} from the query's own topic.`,
  );

  // Throughput: a closed loop of CLIENTS clients per engine, in turn, over the same queries.
  const loopDb = await openBenchDatabase(url, CLIENTS);
  const connections = await Promise.all(Array.from({ length: CLIENTS }, () => loopDb.pool.connect()));
  try {
    console.log(`\nclosed loop, ${CLIENTS} clients, ${LOOP_SECONDS} s per engine; CPU: the whole machine's busy time per query (${navigator.hardwareConcurrency} cores)\n`);
    console.log(
      `${"query".padEnd(26)} ${"Postgres q/s".padStart(12)} ${"p99".padStart(8)} ${"CPU/query".padStart(10)} ${"LanceDB q/s".padStart(12)} ${"p99".padStart(8)} ${"CPU/query".padStart(10)} ${"PG/Lance q/s".padStart(12)}`,
    );
    for (const kind of kinds.filter((k) => k.looped)) {
      const loop = async (side: "pg" | "lance") => {
        const times: number[] = [];
        let next = 0;
        const cpu = machineCpuMs();
        const started = performance.now();
        const until = started + LOOP_SECONDS * 1000;
        await Promise.all(
          connections.map(async (db) => {
            while (performance.now() < until) {
              const q = queries[next++ % queries.length] as TopicQuery;
              const t = performance.now();
              await kind[side](q, db);
              times.push(performance.now() - t);
            }
          }),
        );
        const elapsed = (performance.now() - started) / 1000;
        return { rate: times.length / elapsed, p99: percentile(times, 99), cpu: (machineCpuMs() - cpu) / times.length };
      };
      const pg = await loop("pg");
      const lanceLoop = await loop("lance");
      console.log(
        `${kind.name.padEnd(26)} ${pg.rate.toFixed(0).padStart(12)} ${ms(pg.p99).padStart(8)} ${ms(pg.cpu).padStart(10)} ${lanceLoop.rate.toFixed(0).padStart(12)} ${ms(lanceLoop.p99).padStart(8)} ${ms(lanceLoop.cpu).padStart(10)} ${(pg.rate / lanceLoop.rate).toFixed(2).padStart(12)}`,
      );
    }
  } finally {
    for (const db of connections) db.release();
    await loopDb.close();
  }
  console.log("\nLatency is the client's round trip (Postgres through the Neon driver and the local proxy; LanceDB in process).");
}
