/**
 * HNSW build parameters and ef_search against recall, per query as well as on average, on a database
 * loaded by load.ts (DATABASE_URL, default the CI cluster's edgestock_bench):
 *
 *   for each (m, ef_construction) given: rebuild the corpus model's index (image_embeddings_1_hnsw) with them (build time, size),
 *   then for each ef_search: recall@20 against exact search for every topic query, without a filter
 *   and with the selective one under iterative_scan = relaxed_order (what the route runs), as the mean,
 *   the worst query and how many queries fall under 0.8; p50/p95 round trip.
 *
 * `--storage vector,halfvec` compares how the graph stores its vectors: `vector` is the column's own
 * index (image_embeddings_1_hnsw, 4 bytes a dimension), `halfvec` an index over
 * `embedding::halfvec(512)` (2 bytes a dimension, image_embeddings_half_idx) that the queries order by
 * instead. Both indexes can exist at once; the planner takes the one the ORDER BY matches.
 *
 * The index is left as the last build; `--restore` rebuilds it as migration 0011 defines it afterwards.
 *
 *   bun scripts/bench/search/hnsw.ts [--builds 16:64,16:128,24:128] [--ef 40,100,200] [--storage vector,halfvec] [--queries N] [--restore] [--label NAME]
 */
import { parseArgs } from "node:util";
import type { PoolClient } from "@neondatabase/serverless";
import { embeddingIndexName } from "../../../db/embedding-models";
import { recordFigures } from "../lib/figures";
import { SearchCorpus, type TopicQuery, vectorLiteral } from "./corpus";
import { BENCH_MODEL, BENCH_VECTORS, benchDistance, type CorpusStamp, ms, percentile, seconds, serverSettings, sizeLabel, withBenchCorpus } from "./db";

const figures = recordFigures("search-hnsw");

const { values: args } = parseArgs({
  options: {
    builds: { type: "string" },
    ef: { type: "string" },
    storage: { type: "string" },
    queries: { type: "string" },
    restore: { type: "boolean" },
    label: { type: "string" },
  },
});
const K = 20;
const WORST_LIMIT = 0.8;
const BUILDS = (args.builds ?? "16:64,16:128,24:128").split(",").map((pair) => {
  const [m, efc] = pair.split(":").map(Number);
  if (!Number.isInteger(m) || !Number.isInteger(efc)) throw new Error(`--builds wants m:ef_construction pairs, got ${pair}`);
  return { m: m as number, efConstruction: efc as number };
});
const EF_VALUES = (args.ef ?? "40,100,200").split(",").map(Number);
const MIGRATION_BUILD = { m: 24, efConstruction: 200 };
/** How the graph stores vectors: its index, the indexed expression and the query's distance to it. */
const STORAGES = {
  vector: { index: embeddingIndexName(BENCH_MODEL.id), indexed: "(embedding::vector(512)) vector_cosine_ops", distance: benchDistance(1) },
  halfvec: { index: "image_embeddings_half_idx", indexed: "(embedding::halfvec(512)) halfvec_cosine_ops", distance: "embedding::halfvec(512) <=> $1::halfvec(512)" },
} as const;
type Storage = keyof typeof STORAGES;
const STORAGE_NAMES = (args.storage ?? "vector").split(",").map((name) => {
  if (!(name in STORAGES)) throw new Error(`--storage takes ${Object.keys(STORAGES).join(", ")}, got ${name}`);
  return name as Storage;
});

const VISIBLE = "status = 'approved' and withdrawn_at is null";
const FILTER = "orientation = $3 and exists (select 1 from image_categories ic where ic.image_id = images.id and ic.category_slug = $2)";
const nearestSql = (filtered: boolean, storage: Storage = "vector") =>
  `select id from ${BENCH_VECTORS} where ${VISIBLE}${filtered ? ` and ${FILTER}` : ""} order by ${STORAGES[storage].distance} limit ${K}`;
const params = (q: TopicQuery, filtered: boolean) => (filtered ? [vectorLiteral(q.embedding), q.filter.category, q.filter.orientation] : [vectorLiteral(q.embedding)]);

await withBenchCorpus(run);

/** Builds the index with these parameters, or keeps it when it already has them (its build time is then unknown: "kept"). */
async function build(c: PoolClient, m: number, efConstruction: number, storage: Storage = "vector"): Promise<{ took: string; size: string }> {
  const { index, indexed } = STORAGES[storage];
  const current = (await c.query<{ def: string }>("select indexdef as def from pg_indexes where indexname = $1", [index])).rows[0]?.def ?? "";
  let took = "kept";
  if (!current.replace(/\s+/g, "").includes(`(m='${m}',ef_construction='${efConstruction}')`)) {
    await c.query(`drop index if exists ${index}`);
    const t = performance.now();
    await c.query(`create index ${index} on image_embeddings using hnsw (${indexed}) with (m = ${m}, ef_construction = ${efConstruction}) where model_id = ${BENCH_MODEL.id}`);
    took = `${seconds(t).toFixed(1)} s`;
  }
  const size = (await c.query<{ size: string }>("select pg_size_pretty(pg_relation_size($1::regclass)) as size", [index])).rows[0]?.size ?? "?";
  return { took, size };
}

async function run(c: PoolClient, stamp: CorpusStamp) {
  // A storage comparison is its own figure, so the build sweeps stay where the docs cite them.
  // `--label dense` keeps another sweep's figures apart too (search-hnsw-dense-2m.md).
  const label = (args.label ?? "").replace(/[^a-z0-9-]/g, "");
  figures.rename(`search-hnsw-${label ? `${label}-` : ""}${args.storage ? "storage-" : ""}${sizeLabel(stamp.size)}`);
  const queries = new SearchCorpus(stamp).queries().slice(0, Number(args.queries ?? stamp.topics));
  const rows = Number((await c.query<{ n: string }>("select count(*)::text as n from images")).rows[0]?.n);
  console.log(`${rows.toLocaleString("en")} images (seed ${stamp.seed}, ${stamp.topics} topics), ${queries.length} topic queries; ${await serverSettings(c)}`);
  await c.query(`set maintenance_work_mem = '${(process.env.BENCH_MAINTENANCE_WORK_MEM ?? "4GB").replace(/[^0-9A-Za-z]/g, "")}'`);

  const t = performance.now();
  const exact = { plain: [] as Set<string>[], filtered: [] as Set<string>[] };
  await c.query("begin");
  await c.query("set local enable_indexscan = off");
  for (const q of queries) {
    exact.plain.push(new Set((await c.query<{ id: string }>(nearestSql(false), params(q, false))).rows.map((r) => r.id)));
    exact.filtered.push(new Set((await c.query<{ id: string }>(nearestSql(true), params(q, true))).rows.map((r) => r.id)));
  }
  await c.query("commit");
  console.log(`exact top-${K} for ${queries.length} queries x 2 in ${seconds(t).toFixed(1)} s\n`);

  const header = `${"storage".padEnd(8)} ${"m".padStart(3)} ${"ef_constr".padStart(9)} ${"build".padStart(8)} ${"size".padStart(8)} ${"mode".padEnd(10)} ${"ef_search".padStart(9)} ${"mean".padStart(6)} ${"worst".padStart(6)} ${`<${WORST_LIMIT}`.padStart(5)} ${"p50".padStart(9)} ${"p95".padStart(9)}`;
  console.log(header);
  await c.query("set hnsw.iterative_scan = relaxed_order");
  for (const storage of STORAGE_NAMES)
    for (const { m, efConstruction } of BUILDS) {
      const built = await build(c, m, efConstruction, storage);
      for (const q of queries) await c.query(nearestSql(false, storage), params(q, false)); // warm the new graph
      for (const filtered of [false, true]) {
        for (const ef of EF_VALUES) {
          await c.query(`set hnsw.ef_search = ${ef}`);
          const recalls: number[] = [];
          const times: number[] = [];
          for (const [i, q] of queries.entries()) {
            const started = performance.now();
            const found = (await c.query<{ id: string }>(nearestSql(filtered, storage), params(q, filtered))).rows;
            times.push(performance.now() - started);
            const truth = (filtered ? exact.filtered : exact.plain)[i] as Set<string>;
            recalls.push(truth.size === 0 ? 1 : found.filter((r) => truth.has(r.id)).length / truth.size);
          }
          const mean = recalls.reduce((a, b) => a + b, 0) / recalls.length;
          const worst = Math.min(...recalls);
          const under = recalls.filter((r) => r < WORST_LIMIT).length;
          console.log(
            `${storage.padEnd(8)} ${String(m).padStart(3)} ${String(efConstruction).padStart(9)} ${built.took.padStart(8)} ${built.size.padStart(8)} ${(filtered ? "filter" : "no filter").padEnd(10)} ${String(ef).padStart(9)} ${mean.toFixed(3).padStart(6)} ${worst.toFixed(2).padStart(6)} ${String(under).padStart(5)} ${ms(percentile(times, 50)).padStart(9)} ${ms(percentile(times, 95)).padStart(9)}`,
          );
        }
      }
    }
  await c.query("reset hnsw.ef_search");
  await c.query("reset hnsw.iterative_scan");
  if (args.restore) {
    const restored = await build(c, MIGRATION_BUILD.m, MIGRATION_BUILD.efConstruction);
    console.log(`\nrestored the migration's index (m ${MIGRATION_BUILD.m}, ef_construction ${MIGRATION_BUILD.efConstruction}): ${restored.took}`);
  }
}
