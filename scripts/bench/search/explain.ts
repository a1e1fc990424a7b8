/**
 * EXPLAIN (ANALYZE, BUFFERS) of the search route's own statements (edge/services/catalogue/search-sql.ts) on the
 * benchmark corpus that load.ts filled: keyword, semantic and hybrid, without and with a selective
 * filter, run the way the route runs them (one statement each, on the database's pgvector defaults
 * from migration 0006: hnsw.ef_search 100, iterative scans). Writes scripts/bench/search/ROUTE-PLANS.md and prints each
 * statement's execution time.
 *
 *   bun scripts/bench/search/explain.ts
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { sql } from "drizzle-orm";
import { type Retrieval, searchStatement } from "../../../edge/services/catalogue/search-sql";
import { recordFigures } from "../lib/figures";
import { SearchCorpus } from "./corpus";
import { assertSearchDefaults, BENCH_MODEL, benchDatabaseUrl, openBenchDatabase, readCorpusStamp } from "./db";

recordFigures("search-explain");

const bench = await openBenchDatabase(benchDatabaseUrl(), 2);
await assertSearchDefaults(bench.pool);
const stamp = await readCorpusStamp(bench.pool);
if (!stamp) throw new Error("no corpus: run scripts/bench/search/load.ts first");
const query = new SearchCorpus(stamp).queries()[7];
if (!query) throw new Error("the corpus has no queries");
const embedding = Array.from(query.embedding);
const now = new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000);

const cases: { name: string; retrieval: Retrieval; filtered: boolean }[] = [];
for (const filtered of [false, true]) {
  cases.push({ name: `keyword "${query.text}"`, retrieval: { kind: "keyword", query: query.text }, filtered });
  cases.push({ name: "semantic", retrieval: { kind: "semantic", embedding, model: BENCH_MODEL }, filtered });
  cases.push({ name: `hybrid "${query.text}"`, retrieval: { kind: "hybrid", query: query.text, embedding, model: BENCH_MODEL }, filtered });
}

let report = `# The search route's statements on the benchmark corpus\n\nWritten by \`scripts/bench/search/explain.ts\` on ${stamp.size.toLocaleString("en")} images (${new Date().toISOString().slice(0, 10)}). Filter: category \`${query.filter.category}\` + portrait.\n`;
for (const c of cases) {
  const filters = { safe: true, ...(c.filtered ? { category: query.filter.category, orientation: query.filter.orientation } : {}) };
  const statement = searchStatement({ retrieval: c.retrieval, filters: filters as Parameters<typeof searchStatement>[0]["filters"], sort: "relevance", limit: 25, offset: 0, now });
  const explain = sql`explain (analyze, buffers) ${statement}`;
  const { rows } = await bench.db.execute<{ "QUERY PLAN": string }>(explain);
  const plan = rows.map((r) => r["QUERY PLAN"]).join("\n");
  const time = /Execution Time: ([\d.]+) ms/.exec(plan)?.[1] ?? "?";
  const indexes = [...new Set([...plan.matchAll(/using (\w+)/gi)].map((m) => m[1]))].join(", ");
  console.log(`${`${c.name}${c.filtered ? " + filter" : ""}`.padEnd(48)} ${time.padStart(8)} ms   ${indexes}`);
  report += `\n## ${c.name}${c.filtered ? " + filter" : ""}: ${time} ms\n\n\`\`\`\n${plan}\n\`\`\`\n`;
}
writeFileSync(resolve(import.meta.dirname, "ROUTE-PLANS.md"), report);
await bench.close();
