/**
 * Database-side search figures on a database loaded by load.ts (DATABASE_URL, default the CI cluster's
 * edgestock_bench), through the Neon driver and the local proxy like the Worker:
 *
 *   1. recall@20 of the HNSW index against exact search (a sequential scan: `enable_indexscan = off`)
 *      for every topic's query embedding, at hnsw.ef_search 40, 64, 100 and 200: without a filter, and
 *      with a selective one (the topic's category + portrait, about 1-2% of rows) with
 *      hnsw.iterative_scan off, relaxed_order and strict_order (pgvector 0.8). Also the share of results
 *      from the query's own topic, and the round-trip latency. Recommends the lowest ef_search whose
 *      recall@20 is at least 0.95 both unfiltered and filtered with relaxed_order.
 *   2. p50/p95 round-trip time of representative keyword (websearch_to_tsquery over search_vector,
 *      ts_rank), semantic and hybrid (RRF, k = 60, top 100 of each, one statement) queries, with and
 *      without the filter, at the recommended ef_search; `select 1` gives the round-trip floor.
 *   3. Their EXPLAIN (ANALYZE, BUFFERS) plans, written to scripts/bench/search/PLANS.md.
 *
 *   bun scripts/bench/search/recall.ts [--queries 200] [--ef 40,64,100,200] [--runs 1]
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { PoolClient } from "@neondatabase/serverless";
import { embeddingIndexName } from "../../../db/embedding-models";
import { recordFigures } from "../lib/figures";
import { SearchCorpus, type TopicQuery, vectorLiteral } from "./corpus";
import { BENCH_MODEL, BENCH_VECTORS, benchDistance, type CorpusStamp, ms, percentile, seconds, serverSettings, withBenchCorpus } from "./db";

recordFigures("search-recall");

const { values: args } = parseArgs({ options: { queries: { type: "string" }, ef: { type: "string" }, runs: { type: "string" }, plans: { type: "string" } } });
const K = 20;
const RECALL_TARGET = 0.95;
const RRF_K = 60;
const EF_VALUES = (args.ef ?? "40,64,100,200").split(",").map(Number);
const RUNS = Number(args.runs ?? 1);
const PLANS_FILE = args.plans ?? resolve(import.meta.dir, "PLANS.md");

/** Visible to buyers: what every search query filters on. */
const VISIBLE = "status = 'approved' and withdrawn_at is null";
/** The selective filter: one category (through image_categories) and one orientation. */
const filterSql = (category: number, orientation: number) =>
  `orientation = $${orientation} and exists (select 1 from image_categories ic where ic.image_id = images.id and ic.category_slug = $${category})`;
const FILTER = filterSql(2, 3);

const nearestSql = (filtered: boolean, limit = K) =>
  `select id, (metadata->>'benchTopic')::int as topic from ${BENCH_VECTORS}
   where ${VISIBLE}${filtered ? ` and ${FILTER}` : ""}
   order by ${benchDistance(1)} limit ${limit}`;

/** The SQL measured in part 2, written as a search service would run it. */
const SEARCH_SQL = {
  keyword: (filtered: boolean) => `select id, ts_rank(search_vector, query) as rank
from images, websearch_to_tsquery('english', $1) query
where search_vector @@ query and ${VISIBLE}${filtered ? `\n  and ${FILTER}` : ""}
order by rank desc, id
limit ${K}`,
  semantic: (filtered: boolean) => `select id, ${benchDistance(1)} as distance
from ${BENCH_VECTORS}
where ${VISIBLE}${filtered ? `\n  and ${FILTER}` : ""}
order by ${benchDistance(1)}
limit ${K}`,
  hybrid: (filtered: boolean) => `with keyword as (
  select id, row_number() over (order by rank desc, id) as rank
  from (
    select id, ts_rank(search_vector, query) as rank
    from images, websearch_to_tsquery('english', $1) query
    where search_vector @@ query and ${VISIBLE}${filtered ? `\n      and ${filterSql(3, 4)}` : ""}
    order by rank desc, id
    limit 100
  ) best
), semantic as (
  select id, row_number() over (order by distance) as rank
  from (
    select id, ${benchDistance(2)} as distance
    from ${BENCH_VECTORS}
    where ${VISIBLE}${filtered ? `\n      and ${filterSql(3, 4)}` : ""}
    order by ${benchDistance(2)}
    limit 100
  ) nearest
)
select id, sum(1.0 / (${RRF_K} + rank)) as score
from (select id, rank from keyword union all select id, rank from semantic) ranked
group by id
order by score desc, id
limit ${K}`,
};

await withBenchCorpus(run);

async function run(c: PoolClient, stamp: CorpusStamp) {
  const corpus = new SearchCorpus(stamp);
  const queries = corpus.queries().slice(0, Number(args.queries ?? stamp.topics));
  const rows = (await c.query<{ rows: string }>("select count(*)::text as rows from images")).rows[0]?.rows;
  const header = `${Number(rows).toLocaleString("en")} images (seed ${stamp.seed}, ${stamp.topics} topics), ${queries.length} topic queries; ${await serverSettings(c)}`;
  console.log(header);

  const floor: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t = performance.now();
    await c.query("select 1");
    floor.push(performance.now() - t);
  }
  console.log(`round-trip floor (select 1 through the Neon driver and proxy): p50 ${ms(percentile(floor, 50))}\n`);

  // Exact answers: a sequential scan with the index scan disabled.
  const started = performance.now();
  const exact = { plain: [] as string[][], filtered: [] as string[][] };
  await c.query("begin");
  await c.query("set local enable_indexscan = off");
  for (const q of queries) {
    exact.plain.push((await c.query<{ id: string }>(nearestSql(false), [vectorLiteral(q.embedding)])).rows.map((r) => r.id));
    exact.filtered.push((await c.query<{ id: string }>(nearestSql(true), params(q, true))).rows.map((r) => r.id));
  }
  await c.query("commit");
  const exactShort = exact.filtered.filter((ids) => ids.length < K).length;
  console.log(
    `exact top-${K} for ${queries.length} queries x 2 in ${seconds(started).toFixed(1)} s${exactShort ? ` (${exactShort} filtered queries have fewer than ${K} matches)` : ""}`,
  );

  type Mode = { name: string; filtered: boolean; iterative: "off" | "relaxed_order" | "strict_order" };
  const modes: Mode[] = [
    { name: "no filter", filtered: false, iterative: "off" },
    { name: "filter, iterative_scan off", filtered: true, iterative: "off" },
    { name: "filter, relaxed_order", filtered: true, iterative: "relaxed_order" },
    { name: "filter, strict_order", filtered: true, iterative: "strict_order" },
  ];
  type Cell = { recall: number; returned: number; topicShare: number; p50: number; p95: number; index: boolean };
  const table = new Map<string, Cell>();
  // Warm the index and heap once, so the first measured setting is not the cold one.
  await c.query("set hnsw.ef_search = 40");
  for (const q of queries) await c.query(nearestSql(false), [vectorLiteral(q.embedding)]);

  for (const mode of modes) {
    await c.query(`set hnsw.iterative_scan = ${mode.iterative}`);
    for (const ef of EF_VALUES) {
      await c.query(`set hnsw.ef_search = ${ef}`);
      const plan = (await c.query<{ "QUERY PLAN": string }>(`explain ${nearestSql(mode.filtered)}`, params(queries[0] as TopicQuery, mode.filtered))).rows
        .map((r) => r["QUERY PLAN"])
        .join("\n");
      const times: number[] = [];
      let recallSum = 0;
      let returned = 0;
      let onTopic = 0;
      for (let run = 0; run < RUNS; run++) {
        for (const [i, q] of queries.entries()) {
          const t = performance.now();
          const { rows } = await c.query<{ id: string; topic: number }>(nearestSql(mode.filtered), params(q, mode.filtered));
          times.push(performance.now() - t);
          if (run > 0) continue;
          const truth = new Set((mode.filtered ? exact.filtered : exact.plain)[i]);
          const hits = rows.filter((r) => truth.has(r.id)).length;
          recallSum += truth.size === 0 ? 1 : hits / truth.size;
          returned += rows.length;
          onTopic += rows.filter((r) => r.topic === q.topic).length;
        }
      }
      table.set(`${mode.name}|${ef}`, {
        recall: recallSum / queries.length,
        returned: returned / queries.length,
        topicShare: returned ? onTopic / returned : 0,
        p50: percentile(times, 50),
        p95: percentile(times, 95),
        index: plan.includes(embeddingIndexName(BENCH_MODEL.id)),
      });
    }
  }
  await c.query("reset hnsw.iterative_scan");

  console.log(`\nrecall@${K} of the HNSW path vs exact (m=16, ef_construction=64); latency = client round trip\n`);
  console.log(
    `${"mode".padEnd(28)} ${"ef_search".padStart(9)} ${"recall@20".padStart(9)} ${"rows".padStart(5)} ${"on-topic".padStart(8)} ${"p50".padStart(9)} ${"p95".padStart(9)}  plan (topic 0 query)`,
  );
  for (const mode of modes) {
    for (const ef of EF_VALUES) {
      const cell = table.get(`${mode.name}|${ef}`) as Cell;
      console.log(
        `${mode.name.padEnd(28)} ${String(ef).padStart(9)} ${(Math.floor(cell.recall * 1000) / 1000).toFixed(3).padStart(9)} ${cell.returned.toFixed(1).padStart(5)} ${`${(100 * cell.topicShare).toFixed(0)}%`.padStart(8)} ${ms(cell.p50).padStart(9)} ${ms(cell.p95).padStart(9)}  ${cell.index ? "hnsw index" : "no hnsw (planner chose another plan)"}`,
      );
    }
  }
  const meets = (ef: number) => (["no filter", "filter, relaxed_order"] as const).every((m) => (table.get(`${m}|${ef}`)?.recall ?? 0) >= RECALL_TARGET);
  const recommended = EF_VALUES.find(meets);
  console.log(
    recommended
      ? `\nrecommended hnsw.ef_search = ${recommended}: the lowest tried with recall@${K} >= ${RECALL_TARGET} both without a filter and with the filter under iterative_scan = relaxed_order`
      : `\nno ef_search tried reaches recall@${K} >= ${RECALL_TARGET}; try higher values (--ef)`,
  );
  const ef = recommended ?? EF_VALUES[EF_VALUES.length - 1] ?? 100;

  // Part 2: representative queries, as a search service would send them.
  type Kind = { name: string; sql: string; params: (q: TopicQuery) => unknown[]; setup: string[] };
  const sem = (q: TopicQuery) => vectorLiteral(q.embedding);
  const efFor = (limit: number) => `set hnsw.ef_search = ${Math.max(ef, limit)}`;
  const kinds: Kind[] = [
    { name: "keyword, specific (2 core words)", sql: SEARCH_SQL.keyword(false), params: (q) => [q.text], setup: [] },
    { name: "keyword, broad (1 category word)", sql: SEARCH_SQL.keyword(false), params: (q) => [q.broadText], setup: [] },
    { name: "keyword, generic (~25% of rows)", sql: SEARCH_SQL.keyword(false), params: (q) => [q.genericText], setup: [] },
    { name: "keyword, specific + filter", sql: SEARCH_SQL.keyword(true), params: (q) => [q.text, q.filter.category, q.filter.orientation], setup: [] },
    { name: "keyword, generic + filter", sql: SEARCH_SQL.keyword(true), params: (q) => [q.genericText, q.filter.category, q.filter.orientation], setup: [] },
    { name: "semantic", sql: SEARCH_SQL.semantic(false), params: (q) => [sem(q)], setup: [efFor(K), "set hnsw.iterative_scan = off"] },
    {
      name: "semantic + filter (relaxed_order)",
      sql: SEARCH_SQL.semantic(true),
      params: (q) => [sem(q), q.filter.category, q.filter.orientation],
      setup: [efFor(K), "set hnsw.iterative_scan = relaxed_order"],
    },
    { name: "hybrid RRF, specific text", sql: SEARCH_SQL.hybrid(false), params: (q) => [q.text, sem(q)], setup: [efFor(100), "set hnsw.iterative_scan = off"] },
    { name: "hybrid RRF, generic text", sql: SEARCH_SQL.hybrid(false), params: (q) => [q.genericText, sem(q)], setup: [efFor(100), "set hnsw.iterative_scan = off"] },
    {
      name: "hybrid RRF, specific + filter",
      sql: SEARCH_SQL.hybrid(true),
      params: (q) => [q.text, sem(q), q.filter.category, q.filter.orientation],
      setup: [efFor(100), "set hnsw.iterative_scan = relaxed_order"],
    },
  ];
  console.log(`\nSQL round-trip time per query at hnsw.ef_search = ${ef} (${Math.max(ef, 100)} where the semantic part takes 100), ${queries.length} topic queries each\n`);
  console.log(`${"query".padEnd(36)} ${"p50".padStart(9)} ${"p95".padStart(9)} ${"rows".padStart(5)}`);
  const plans: string[] = [];
  const planTopic = queries[Math.floor(queries.length / 2)] as TopicQuery;
  for (const kind of kinds) {
    for (const s of kind.setup) await c.query(s);
    for (const q of queries.slice(0, 20)) await c.query(kind.sql, kind.params(q));
    const times: number[] = [];
    let rows = 0;
    for (let run = 0; run < RUNS; run++) {
      for (const q of queries) {
        const t = performance.now();
        rows += (await c.query(kind.sql, kind.params(q))).rows.length;
        times.push(performance.now() - t);
      }
    }
    console.log(`${kind.name.padEnd(36)} ${ms(percentile(times, 50)).padStart(9)} ${ms(percentile(times, 95)).padStart(9)} ${(rows / times.length).toFixed(1).padStart(5)}`);
    const plan = (await c.query<{ "QUERY PLAN": string }>(`explain (analyze, buffers) ${kind.sql}`, kind.params(planTopic))).rows
      .map((r) => r["QUERY PLAN"].replace(/'\[[-0-9.,e]+\]'::vector\(512\)/g, "'<512-dim query embedding>'::vector(512)"))
      .join("\n");
    const shown = kind
      .params(planTopic)
      .map((p, i) => `$${i + 1} = ${typeof p === "string" && p.startsWith("[") ? `<topic ${planTopic.topic} query embedding, 512 dims>` : JSON.stringify(p)}`);
    plans.push(
      `## ${kind.name}\n\np50 ${ms(percentile(times, 50))}, p95 ${ms(percentile(times, 95))} (round trip, ${times.length} queries). Settings: ${kind.setup.join("; ") || "defaults"}. Parameters: ${shown.join(", ")}.\n\n\`\`\`sql\n${kind.sql}\n\`\`\`\n\n\`\`\`\n${plan}\n\`\`\`\n`,
    );
  }
  await c.query("reset hnsw.ef_search");
  await c.query("reset hnsw.iterative_scan");
  writeFileSync(
    PLANS_FILE,
    `# Search query plans\n\nWritten by \`bun scripts/bench/search/recall.ts\` (${new Date().toISOString().slice(0, 10)}): EXPLAIN (ANALYZE, BUFFERS) of each representative query for topic ${planTopic.topic} ("${planTopic.text}", filter ${planTopic.filter.category} + ${planTopic.filter.orientation}).\n\n${header}.\n\n${plans.join("\n")}`,
  );
  console.log(`\nplans written to ${PLANS_FILE}`);
}

function params(q: TopicQuery, filtered: boolean): unknown[] {
  return filtered ? [vectorLiteral(q.embedding), q.filter.category, q.filter.orientation] : [vectorLiteral(q.embedding)];
}
