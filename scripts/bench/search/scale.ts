/**
 * Browse and keyword search at the corpus's size (DATABASE_URL, default the CI cluster's
 * edgestock_bench, loaded by load.ts), the route's statement two ways, interleaved query by query:
 *
 *   - exact: every match counted and faceted (what the route does on a catalogue of unknown size);
 *   - scaled: what the route does knowing the catalogue (edge/services/catalogue/search-sql.ts):
 *     exact up to EXACT_COUNT_LIMIT matches, a page sample past it; pages from index windows; common
 *     words ranked from a bounded pool.
 *
 * For each kind of search it prints the latency of both, the estimate's error against the exact total
 * and facets, and how much of the exact first page the scaled one returns. Browse's default order is
 * also checked against ranking every listed image. Then the disk each table and index takes, per
 * million images.
 *
 *   bun scripts/bench/search/scale.ts [--queries N] [--runs R]
 */
import { parseArgs } from "node:util";
import type { PoolClient } from "@neondatabase/serverless";
import { sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import {
  businessBoost,
  COUNT_SAMPLE_ROWS,
  EXACT_COUNT_LIMIT,
  type Retrieval,
  type SearchFilters,
  type SearchRow,
  type SearchSort,
  searchStatement,
  visibleAndFiltered,
} from "../../../edge/services/catalogue/search-sql";
import { recordFigures } from "../lib/figures";
import { SearchCorpus, type TopicQuery } from "./corpus";
import { type CorpusStamp, catalogueFacts, ms, overlap, percentile, serverSettings, sizeLabel, withBenchCorpus } from "./db";

const figures = recordFigures("search-scale");

const { values: args } = parseArgs({ options: { queries: { type: "string" }, runs: { type: "string" } } });
const PAGE = 24;
const RUNS = Number(args.runs ?? 3);
const NOW = new Date("2026-01-01T00:00:00Z");
const dialect = new PgDialect();

type Case = { name: string; retrieval: (q: TopicQuery) => Retrieval; filters?: (q: TopicQuery) => Partial<SearchFilters>; sort?: SearchSort; offset?: number; perQuery: boolean };
const CASES: Case[] = [
  { name: "browse, relevance", retrieval: () => ({ kind: "browse" }), perQuery: false },
  { name: "browse, newest", retrieval: () => ({ kind: "browse" }), sort: "newest", perQuery: false },
  { name: "browse, popular, page 5", retrieval: () => ({ kind: "browse" }), sort: "popular", offset: 4 * PAGE, perQuery: false },
  { name: "browse, one category", retrieval: () => ({ kind: "browse" }), filters: (q) => ({ category: q.filter.category }), perQuery: true },
  { name: "keyword, specific", retrieval: (q) => ({ kind: "keyword", query: q.text }), perQuery: true },
  { name: "keyword, broad", retrieval: (q) => ({ kind: "keyword", query: q.broadText }), perQuery: true },
  { name: "keyword, one stock word", retrieval: (q) => ({ kind: "keyword", query: q.genericText }), perQuery: true },
  { name: "keyword, stock word, newest", retrieval: (q) => ({ kind: "keyword", query: q.genericText }), sort: "newest", perQuery: true },
];

await withBenchCorpus(run);

async function run(c: PoolClient, stamp: CorpusStamp) {
  figures.rename(`search-scale-${sizeLabel(stamp.size)}`);
  const query = async <T extends Record<string, unknown>>(statement: ReturnType<typeof sql>) => {
    const { sql: text, params } = dialect.sqlToQuery(statement);
    return (await c.query<T>(text, params)).rows;
  };
  const { commonLexemes, catalogueRows, rumIndex } = await catalogueFacts(c);
  if (!catalogueRows) throw new Error("images has no row estimate: run VACUUM (ANALYZE) images");
  const queries = new SearchCorpus(stamp).queries().slice(0, Number(args.queries ?? 20));
  console.log(
    `${stamp.size.toLocaleString("en")} images (seed ${stamp.seed}), ${queries.length} topic queries, ${RUNS} runs; RUM index ${rumIndex ? "present" : "absent"}; ` +
      `exact up to ${EXACT_COUNT_LIMIT.toLocaleString("en")} matches, sample of ${COUNT_SAMPLE_ROWS.toLocaleString("en")} rows (${((100 * COUNT_SAMPLE_ROWS) / catalogueRows).toPrecision(2)}% of pages); ${await serverSettings(c)}\n`,
  );

  const statement = (k: Case, q: TopicQuery, scaled: boolean) =>
    searchStatement({
      retrieval: k.retrieval(q),
      filters: { safe: true, ...k.filters?.(q) },
      sort: k.sort ?? "relevance",
      limit: PAGE,
      offset: k.offset ?? 0,
      now: NOW,
      rumIndex,
      ...(scaled ? { catalogueRows, commonLexemes } : {}),
    });
  const timed = async (s: ReturnType<typeof sql>) => {
    const started = performance.now();
    const row = (await query<SearchRow>(s))[0];
    if (!row) throw new Error("the search statement returned no row");
    return { row, ms: performance.now() - started };
  };

  console.log(
    `${"search".padEnd(28)} ${"exact p50".padStart(10)} ${"p95".padStart(9)} ${"scaled p50".padStart(10)} ${"p95".padStart(9)} ${"ratio".padStart(6)} ${"estimated".padStart(9)} ${"total err".padStart(9)} ${"worst".padStart(6)} ${"facet err".padStart(9)} ${"page kept".padStart(9)}`,
  );
  for (const k of CASES) {
    const times = { exact: [] as number[], scaled: [] as number[] };
    const totalErrors: number[] = [];
    const facetErrors: number[] = [];
    const kept: number[] = [];
    let estimated = 0;
    const qs = k.perQuery ? queries : queries.slice(0, 1);
    for (let r = 0; r < RUNS; r++) {
      for (const [i, q] of qs.entries()) {
        const rows: Partial<Record<"exact" | "scaled", SearchRow>> = {};
        for (const side of (i + r) % 2 === 0 ? (["exact", "scaled"] as const) : (["scaled", "exact"] as const)) {
          const { row, ms } = await timed(statement(k, q, side === "scaled"));
          times[side].push(ms);
          rows[side] = row;
        }
        if (r > 0) continue;
        const { exact, scaled } = rows;
        if (!exact || !scaled) continue;
        kept.push(overlap(ids(exact), ids(scaled)));
        if (!scaled.approximate) continue;
        estimated++;
        totalErrors.push(Math.abs(scaled.total - exact.total) / exact.total);
        facetErrors.push(facetError(exact, scaled));
      }
    }
    const mean = (xs: number[]) => (xs.length ? (xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(3) : "-");
    const worst = (xs: number[]) => (xs.length ? Math.max(...xs).toFixed(3) : "-");
    console.log(
      `${k.name.padEnd(28)} ${ms(percentile(times.exact, 50)).padStart(10)} ${ms(percentile(times.exact, 95)).padStart(9)} ${ms(percentile(times.scaled, 50)).padStart(10)} ${ms(percentile(times.scaled, 95)).padStart(9)} ${(percentile(times.exact, 50) / percentile(times.scaled, 50)).toFixed(1).padStart(6)} ${`${estimated}/${qs.length}`.padStart(9)} ${mean(totalErrors).padStart(9)} ${worst(totalErrors).padStart(6)} ${mean(facetErrors).padStart(9)} ${mean(kept).padStart(9)}`,
    );
  }

  // Browse's default order ranks the union of two index windows; against ranking every listed image:
  const where = visibleAndFiltered({ safe: true });
  const full = (await query<{ id: string }>(sql`select i.id from images i where ${where} order by ${businessBoost(NOW)} desc, i.id limit ${PAGE}`)).map((r) => r.id);
  const windowed = ids((await timed(statement(CASES[0] as Case, queries[0] as TopicQuery, true))).row);
  console.log(`\nBrowse by relevance, first page: ${(overlap(full, windowed) * PAGE).toFixed(0)} of the ${PAGE} images that ranking every listed image puts first.`);

  const sizes = await query<{ name: string; bytes: string }>(sql`
    select c.relname as name, pg_relation_size(c.oid)::text as bytes from pg_class c
    where c.relname in ('images', 'image_tags', 'image_categories') or c.oid in (select indexrelid from pg_index where indrelid in ('images'::regclass, 'image_tags'::regclass, 'image_categories'::regclass))
    union all
    select 'images (TOAST: embeddings)', pg_relation_size(reltoastrelid)::text from pg_class where oid = 'images'::regclass and reltoastrelid <> 0
    order by 2`);
  sizes.sort((a, b) => Number(b.bytes) - Number(a.bytes));
  const perMillion = (bytes: number) => `${((bytes / 2 ** 30) * (1_000_000 / stamp.size)).toFixed(2)} GiB`;
  const total = sizes.reduce((sum, s) => sum + Number(s.bytes), 0);
  console.log(`\n${"table or index".padEnd(44)} ${"size".padStart(10)} ${"per million".padStart(12)}`);
  for (const s of sizes) console.log(`${s.name.padEnd(44)} ${`${(Number(s.bytes) / 2 ** 20).toFixed(0)} MiB`.padStart(10)} ${perMillion(Number(s.bytes)).padStart(12)}`);
  console.log(`${"all of them".padEnd(44)} ${`${(total / 2 ** 20).toFixed(0)} MiB`.padStart(10)} ${perMillion(total).padStart(12)}`);
  console.log(
    "\nLatency: the client's round trip for the route's whole statement (page of 24, safe search) through the Neon driver and the local proxy; ratio = exact p50 / scaled p50." +
      '\n"estimated": queries past the exact limit; "total err" and "facet err": relative error of the estimate against counting every match (facets: mean over the orientation, colour and category values holding at least 5% of the matches);' +
      "\n\"page kept\": share of the exact statement's page the scaled one returns (keyword past the limit ranks the RUM index's best matches, or for common words the most popular then newest; among equally ranked matches the two keep different ones)." +
      "\nMemory: the HNSW index must stay in memory for vector search to keep its latency; the rest is read as pages are needed.",
  );
}

function ids(row: SearchRow): string[] {
  return row.results.slice(0, PAGE).map((r) => r.id);
}

/** Mean relative error of the estimated facet counts over the values holding at least 5% of the matches. */
function facetError(exact: SearchRow, scaled: SearchRow): number {
  const errors: number[] = [];
  for (const facet of ["orientations", "colours", "categories"] as const) {
    for (const [value, n] of Object.entries(exact[facet])) {
      if (n < 0.05 * exact.total) continue;
      errors.push(Math.abs((scaled[facet][value] ?? 0) - n) / n);
    }
  }
  return errors.length ? errors.reduce((a, b) => a + b, 0) / errors.length : 0;
}
