/**
 * The hybrid search statement as the route runs it (the RUM index of migration 0010, and the common
 * words' bounded ranking) against ranking every keyword match, on a database loaded by load.ts
 * (DATABASE_URL, default the CI cluster's edgestock_bench), interleaved query by query:
 *
 *   - latency of the route's whole statement (edge/services/catalogue/search-sql.ts, hybrid, first page)
 *     for each topic's specific text (two core words), broad text (one secondary word) and generic text
 *     (one stock word on a fifth to a third of all images), GIN + ts_rank over every match against the
 *     route's own (RUM's rank order; for a word on COMMON_WORD_MATCHES images or more, its matches
 *     nearest the query's embedding);
 *   - quality: the share of the exact statement's top 24 the route's returns, the share of each
 *     statement's top 24 from the query's own topic, and of the keyword leg's exact top 100 (ts_rank
 *     over every match) that the RUM leg picks (ts_rank over the index's first RUM_POOL matches).
 *
 *   bun scripts/bench/search/keyword.ts [--queries N]
 */
import { parseArgs } from "node:util";
import type { PoolClient } from "@neondatabase/serverless";
import { PgDialect } from "drizzle-orm/pg-core";
import { COMMON_WORD_MATCHES, commonWordSql, keywordTsquery, RANK_WEIGHTS, RUM_INDEX, RUM_POOL, searchStatement } from "../../../edge/services/catalogue/search-sql";
import { recordFigures } from "../lib/figures";
import { SearchCorpus, type TopicQuery } from "./corpus";
import { BENCH_MODEL, type CorpusStamp, catalogueFacts, ms, overlap, percentile, serverSettings, sizeLabel, withBenchCorpus } from "./db";

const figures = recordFigures("search-keyword");

const { values: args } = parseArgs({ options: { queries: { type: "string" } } });
const PAGE = 24;
const LEG = 100;
const dialect = new PgDialect();

await withBenchCorpus(run);

async function run(c: PoolClient, stamp: CorpusStamp, url: string) {
  figures.rename(`search-keyword-${sizeLabel(stamp.size)}`);
  const facts = await catalogueFacts(c);
  if (!facts.rumIndex) throw new Error(`${url} has no ${RUM_INDEX}: the server needs the rum extension (postgresql-15-rum) and migration 0010`);
  const { commonLexemes } = facts;
  const queries = new SearchCorpus(stamp).queries().slice(0, Number(args.queries ?? stamp.topics));
  console.log(
    `${stamp.size.toLocaleString("en")} images (seed ${stamp.seed}), ${queries.length} topic queries; ${commonLexemes.length} lexemes on at least ${COMMON_WORD_MATCHES.toLocaleString("en")} images; ${await serverSettings(c)}\n`,
  );

  const statement = (q: TopicQuery, text: string, route: boolean) =>
    dialect.sqlToQuery(
      searchStatement({
        retrieval: { kind: "hybrid", query: text, embedding: Array.from(q.embedding), model: BENCH_MODEL },
        filters: { safe: true },
        sort: "relevance",
        limit: PAGE,
        offset: 0,
        now: new Date("2026-01-01T00:00:00Z"),
        ...(route ? { rumIndex: true, commonLexemes } : {}),
      }),
    );
  const page = async (q: TopicQuery, text: string, route: boolean) => {
    const { sql, params } = statement(q, text, route);
    const row = (await c.query<{ total: number; results: { id: string }[] }>(sql, params)).rows[0];
    return (row?.results ?? []).map((r) => r.id);
  };
  /** Share of the results from the query's own topic (load.ts keeps it in metadata.benchTopic). */
  const onTopic = async (q: TopicQuery, ids: string[]) => {
    if (ids.length === 0) return 0;
    const { rows } = await c.query<{ n: number }>(`select count(*)::int as n from images where id = any($1::uuid[]) and (metadata->>'benchTopic')::int = $2`, [ids, q.topic]);
    return (rows[0]?.n ?? 0) / ids.length;
  };
  /** Whether the route takes the common-word path for this text. */
  const isCommon = async (text: string) => {
    const test = commonWordSql(text, commonLexemes);
    if (!test) return false;
    const { sql, params } = dialect.sqlToQuery(test);
    return (await c.query<{ common: boolean }>(`select ${sql} as common`, params)).rows[0]?.common === true;
  };
  const leg = async (text: string, rum: boolean) => {
    const tsquery = dialect.sqlToQuery(keywordTsquery(text));
    const rank = `ts_rank('${RANK_WEIGHTS}'::float4[], search_vector, (${tsquery.sql}))`;
    const matches = `from images i where search_vector @@ (${tsquery.sql}) and status = 'approved' and withdrawn_at is null`;
    const sql = rum
      ? `select id, rank from (select id, ${rank} as rank ${matches} order by search_vector <=> (${tsquery.sql}) limit ${RUM_POOL}) pool order by rank desc, id limit ${LEG}`
      : `select id, ${rank} as rank ${matches} order by ${rank} desc, id limit ${LEG}`;
    return (await c.query<{ id: string; rank: number }>(sql, tsquery.params)).rows;
  };
  /** Positions where the two legs hold an equally ranked match (the same image, or another of equal ts_rank). */
  const sameRanks = (exact: { rank: number }[], other: { rank: number }[]) =>
    exact.length === 0 ? 1 : exact.filter((e, k) => other[k] !== undefined && Math.abs((other[k]?.rank ?? 0) - e.rank) <= 1e-3 * e.rank).length / exact.length;

  const kinds = [
    { name: "specific (2 core words)", text: (q: TopicQuery) => q.text },
    { name: "broad (1 secondary word)", text: (q: TopicQuery) => q.broadText },
    { name: "generic (1 stock word)", text: (q: TopicQuery) => q.genericText },
  ];
  // Warm: every query once both ways, so neither side pays for reading the other's pages from disk.
  for (const q of queries) for (const kind of kinds) for (const route of [false, true]) await page(q, kind.text(q), route);

  console.log(
    `${"hybrid text".padEnd(26)} ${"exact p50".padStart(9)} ${"p95".padStart(9)} ${"p99".padStart(9)} ${"route p50".padStart(9)} ${"p95".padStart(9)} ${"p99".padStart(9)} ${"ratio".padStart(6)} ${"common".padStart(7)} ${"top-24 kept".padStart(11)} ${"on topic".padStart(8)} ${"(exact)".padStart(7)} ${"RUM leg top-100".padStart(15)} ${"same ranks".padStart(10)}`,
  );
  for (const kind of kinds) {
    const times = { exact: [] as number[], route: [] as number[] };
    const kept: number[] = [];
    const topic = { exact: [] as number[], route: [] as number[] };
    const legKept: number[] = [];
    const legRanks: number[] = [];
    let common = 0;
    for (const [i, q] of queries.entries()) {
      const text = kind.text(q);
      if (await isCommon(text)) common++;
      const results: Record<"exact" | "route", string[]> = { exact: [], route: [] };
      for (const side of i % 2 === 0 ? (["exact", "route"] as const) : (["route", "exact"] as const)) {
        const started = performance.now();
        results[side] = await page(q, text, side === "route");
        times[side].push(performance.now() - started);
      }
      kept.push(overlap(results.exact, results.route));
      topic.exact.push(await onTopic(q, results.exact));
      topic.route.push(await onTopic(q, results.route));
      const [exactLeg, rumLeg] = [await leg(text, false), await leg(text, true)];
      legKept.push(
        overlap(
          exactLeg.map((r) => r.id),
          rumLeg.map((r) => r.id),
        ),
      );
      legRanks.push(sameRanks(exactLeg, rumLeg));
    }
    const mean = (xs: number[]) => (xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(3);
    const p = (xs: number[], at: number) => ms(percentile(xs, at));
    console.log(
      `${kind.name.padEnd(26)} ${p(times.exact, 50).padStart(9)} ${p(times.exact, 95).padStart(9)} ${p(times.exact, 99).padStart(9)} ${p(times.route, 50).padStart(9)} ${p(times.route, 95).padStart(9)} ${p(times.route, 99).padStart(9)} ${(percentile(times.exact, 50) / percentile(times.route, 50)).toFixed(2).padStart(6)} ${`${common}/${queries.length}`.padStart(7)} ${mean(kept).padStart(11)} ${mean(topic.route).padStart(8)} ${mean(topic.exact).padStart(7)} ${mean(legKept).padStart(15)} ${mean(legRanks).padStart(10)}`,
    );
  }
  console.log(
    `\nLatency: the client's round trip for the route's whole hybrid statement (first page of ${PAGE}, safe search), through the Neon driver and the local proxy; ratio = exact p50 / route p50.` +
      `\n"exact": GIN + ts_rank over every match; "route": the RUM index's ${RUM_POOL} best matches re-ranked, and for plain words whose lexemes are all on at least ${COMMON_WORD_MATCHES.toLocaleString("en")} images ("common") their matches nearest the query's embedding.` +
      `\n"top-24 kept": share of the exact statement's results the route's also returns; "on topic": share of the route's top 24 from the query's own topic ("(exact)": the exact statement's).` +
      `\n"RUM leg top-100": share of the keyword leg's exact top ${LEG} (ts_rank over every match) that the RUM leg picks (ts_rank over the index's first ${RUM_POOL}); "same ranks": share of the ${LEG} places where both legs hold a match of the same ts_rank, within 0.1% (the same image, or another that ranks as high).` +
      "\nAmong matches that rank equal (common with one word), the exact leg keeps the lowest ids and RUM its own order: both are equally relevant to the text.",
  );
}
