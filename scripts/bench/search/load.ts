/**
 * Loads the search corpus (corpus.ts) into a real PostgreSQL server with pgvector, the project's way:
 * the Neon driver through the local WebSocket proxy, drizzle's migrator for the schema, then COPY.
 *
 *   bun scripts/bench/search/load.ts [--size 100000] [--seed S] [--topics 200] [--batch 5000] [--force]
 *
 * DATABASE_URL (default postgres://postgres@127.0.0.1:5433/edgestock_bench, the CI cluster from
 * scripts/ci/start-postgres.sh) names the database; it is created when missing and migrated. Its name
 * must contain "bench" (the load empties users, images and their tags and categories). The slow indexes
 * (HNSW on the embedding, GIN on search_vector and on tags) are dropped before the load and rebuilt after
 * it from the definitions the migrations made, each build timed; then VACUUM (ANALYZE). The corpus
 * options are stamped on the database's comment, so a second run with the same options does nothing
 * (`--force` reloads) and recall.ts knows which queries belong to the data.
 * Env: BENCH_MAINTENANCE_WORK_MEM (default 4GB) for the index builds.
 * `--hnsw M:EF_CONSTRUCTION` builds the HNSW index with other parameters than migration 0011's (a denser
 * graph for a larger corpus); the figures then go to search-load-<size>-m<M>-efc<EF>.md, leaving the
 * migration's figures as they are.
 */

import type { PoolClient } from "@neondatabase/serverless";
import { migrate } from "drizzle-orm/neon-serverless/migrator";
import { derivativeKey, originalKey } from "../../../common/images";
import { embeddingIndexDefinition, embeddingIndexName } from "../../../db/embedding-models";
import { MIGRATIONS_FOLDER } from "../../../db/migrations-folder";
import { recordFigures } from "../lib/figures";
import { type CorpusImage, corpusOptionsFromArgs, SearchCorpus, vectorLiteral } from "./corpus";
import { BENCH_MODEL, benchDatabaseUrl, copyField, copyFrom, openBenchDatabase, readCorpusStamp, seconds, sizeLabel } from "./db";

const figures = recordFigures("search-load");

/** Indexes whose per-row upkeep dominates a bulk load; rebuilt once at the end instead. */
const REBUILT_INDEXES = ["images_search_vector_idx", "image_tags_tag_trgm_idx"];
/** The corpus model's partial HNSW index (db/embedding-models.ts), built after the COPY like the rest. */
const GRAPH_INDEX = embeddingIndexName(BENCH_MODEL.id);
/** Rebuilt too where the migrations made it (migration 0010 builds it only where the rum extension exists). */
const OPTIONAL_REBUILT_INDEXES = ["images_search_rum_idx"];
const IMAGE_COLUMNS = [
  "id",
  "contributor_id",
  "title",
  "description",
  "status",
  "status_reason",
  "editorial",
  "sha256",
  "phash",
  "width",
  "height",
  "format",
  "bytes",
  "declared_bytes",
  "declared_content_type",
  "stage",
  "uploaded_at",
  "aspect_ratio",
  "colour_bucket",
  "ml_status",
  "original_key",
  "derivative_keys",
  "nsfw_score",
  "palette",
  "metadata",
  "tag_text",
  "view_count",
  "download_count",
  "sale_count",
  "published_at",
  "withdrawn_at",
  "created_at",
  "updated_at",
];

const options = corpusOptionsFromArgs();
const hnsw = typeof options.rest.hnsw === "string" ? options.rest.hnsw.split(":").map(Number) : null;
if (hnsw !== null && (hnsw.length !== 2 || !hnsw.every((n) => Number.isInteger(n) && n > 0))) throw new Error(`--hnsw wants M:EF_CONSTRUCTION, got ${options.rest.hnsw}`);
figures.rename(`search-load-${sizeLabel(options.size)}${hnsw ? `-m${hnsw[0]}-efc${hnsw[1]}` : ""}`);
const batchSize = Number(options.rest.batch ?? 5000);
const force = options.rest.force === true;
const maintenanceWorkMem = process.env.BENCH_MAINTENANCE_WORK_MEM ?? "4GB";
const url = new URL(benchDatabaseUrl());
const databaseName = url.pathname.slice(1);
if (!/^[a-z_][a-z0-9_]*$/.test(databaseName) || !databaseName.includes("bench")) {
  console.error(`refusing to load into "${databaseName}": the load empties users and images, so the database name must contain "bench"`);
  process.exit(2);
}

const say = (msg: string) => console.log(`[load] ${msg}`);

// 1. The database, created if missing, migrated.
const serverUrl = new URL(url);
serverUrl.pathname = "/postgres";
const server = await openBenchDatabase(serverUrl.toString(), 1);
const exists = await server.pool.query("select 1 from pg_database where datname = $1", [databaseName]);
if (exists.rowCount === 0) {
  await server.pool.query(`create database ${databaseName}`);
  say(`created database ${databaseName}`);
}
const version = (await server.pool.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]?.v;
await server.close();

const bench = await openBenchDatabase(url.toString(), 2);
await migrate(bench.db, { migrationsFolder: MIGRATIONS_FOLDER });
const client = await bench.pool.connect();
try {
  const stamp = await readCorpusStamp(client);
  if (!force && stamp && stamp.size === options.size && stamp.seed === options.seed && stamp.topics === options.topics) {
    say(`${databaseName} already holds this corpus (loaded ${stamp.loadedAt}); --force reloads it`);
  } else {
    await load(client);
  }
} finally {
  client.release();
  await bench.close();
}

async function load(c: PoolClient) {
  const corpus = new SearchCorpus(options);
  // current_setting() gives the value with its unit ("6GB"); pg_settings.setting counts units (8kB pages).
  const settings = await c.query<{ name: string; setting: string }>(
    "select name, current_setting(name) as setting from pg_settings where name in ('shared_buffers', 'max_parallel_maintenance_workers', 'max_parallel_workers_per_gather', 'fsync', 'synchronous_commit', 'work_mem')",
  );
  const pgvector = (await c.query<{ v: string }>("select extversion as v from pg_extension where extname = 'vector'")).rows[0]?.v;
  say(`PostgreSQL ${version}, pgvector ${pgvector}; ${settings.rows.map((s) => `${s.name}=${s.setting}`).join(", ")}`);
  say(`corpus: ${options.size} images, ${options.topics} topics, seed ${options.seed}, ${corpus.contributorIds.length} contributors; batches of ${batchSize}`);

  await c.query(`comment on database ${databaseName} is null`);
  await c.query("truncate image_categories, image_tags, image_embeddings, embedding_models, images, users cascade");
  // The corpus's model is id 1 (BENCH_MODEL), whatever models the database had: the bench's raw statements name it.
  await c.query("insert into embedding_models (id, model, version, dimensions, state, activated_at) overriding system value values ($1, $2, $3, $4, 'active', now())", [
    BENCH_MODEL.id,
    BENCH_MODEL.model,
    BENCH_MODEL.version,
    BENCH_MODEL.dimensions,
  ]);
  const definitions = await c.query<{ name: string; def: string }>(
    "select indexname as name, indexdef as def from pg_indexes where schemaname = 'public' and indexname = any($1)",
    [[...REBUILT_INDEXES, ...OPTIONAL_REBUILT_INDEXES]],
  );
  const missing = REBUILT_INDEXES.filter((name) => !definitions.rows.some((d) => d.name === name));
  if (missing.length > 0) throw new Error(`expected the migrations' indexes ${missing.join(", ")}; is this the Edgestock schema?`);
  for (const { name } of definitions.rows) await c.query(`drop index ${name}`);
  // Truncating embedding_models dropped nothing: the graph of a model that was id 1 may be left over.
  await c.query(`drop index if exists ${GRAPH_INDEX}`);
  let graphDef = `CREATE INDEX ${embeddingIndexDefinition(BENCH_MODEL)}`;
  if (hnsw !== null) {
    graphDef = graphDef.replace(/with \(m = \d+, ef_construction = \d+\)/, `with (m = ${hnsw[0]}, ef_construction = ${hnsw[1]})`);
    if (!graphDef.includes(`m = ${hnsw[0]},`)) throw new Error(`cannot set the HNSW parameters in ${graphDef}`);
    say(`HNSW built with m ${hnsw[0]}, ef_construction ${hnsw[1]} (--hnsw), not migration 0011's`);
  }
  definitions.rows.push({ name: GRAPH_INDEX, def: graphDef });

  const users = corpus.contributorIds
    .map((id, i) => [id, `bench-contributor-${i}@bench.edgestock.test`, "pbkdf2-sha256$1$bench$not-a-real-hash", "contributor", `Bench contributor ${i}`].map(copyField).join("\t"))
    .join("\n");
  await copyFrom(c, "copy users (id, email, password_hash, role, display_name) from stdin", `${users}\n`);

  const started = performance.now();
  let imageRows = 0;
  let tagRows = 0;
  let categoryRows = 0;
  let bytes = 0;
  let generating = 0;
  let inFlight: Promise<void> = Promise.resolve();
  let lastReport = performance.now();
  for (let from = 0; from < options.size; from += batchSize) {
    const to = Math.min(options.size, from + batchSize);
    const t0 = performance.now();
    const batch = await renderBatch(corpus, from, to);
    generating += performance.now() - t0;
    await inFlight;
    bytes += batch.images.length + batch.tags.length + batch.categories.length + batch.embeddings.length;
    // The next batch is generated while this one is copied (renderBatch yields to the event loop).
    inFlight = (async () => {
      imageRows += await copyFrom(c, `copy images (${IMAGE_COLUMNS.join(", ")}) from stdin`, batch.images);
      await copyFrom(c, "copy image_embeddings (model_id, image_id, embedding) from stdin", batch.embeddings);
      tagRows += await copyFrom(c, "copy image_tags (image_id, tag, confidence, source) from stdin", batch.tags);
      categoryRows += await copyFrom(c, "copy image_categories (image_id, category_slug, confidence, source) from stdin", batch.categories);
    })();
    if (performance.now() - lastReport > 10_000) {
      lastReport = performance.now();
      say(`${to} images generated, ${imageRows} copied, ${Math.round(imageRows / seconds(started))} images/s`);
    }
  }
  await inFlight;
  const loadSeconds = seconds(started);
  say(
    `COPY: ${imageRows} images + ${tagRows} tags + ${categoryRows} category rows, ${(bytes / 1e6).toFixed(0)} MB of COPY text in ${loadSeconds.toFixed(1)} s: ` +
      `${Math.round(imageRows / loadSeconds)} images/s, ${Math.round((imageRows + tagRows + categoryRows) / loadSeconds)} rows/s ` +
      `(generation ${(generating / 1000).toFixed(1)} s of it, overlapped with the copy)`,
  );

  await c.query(`set maintenance_work_mem = '${maintenanceWorkMem.replace(/[^0-9A-Za-z]/g, "")}'`);
  const builds: string[] = [];
  for (const { name, def } of definitions.rows) {
    const t = performance.now();
    await c.query(def);
    const took = seconds(t);
    builds.push(`${name} ${took.toFixed(1)} s`);
    say(`built ${name} in ${took.toFixed(1)} s (maintenance_work_mem ${maintenanceWorkMem}): ${def.replace(/^CREATE INDEX \S+ ON /, "")}`);
  }
  const t = performance.now();
  await c.query("vacuum (analyze) users, images, image_embeddings, image_tags, image_categories");
  say(`VACUUM (ANALYZE) in ${seconds(t).toFixed(1)} s`);

  const sizes = await c.query<{ name: string; size: string }>(
    `select relname as name, pg_size_pretty(pg_total_relation_size(oid)) as size from pg_class
     where relname in ('images', 'image_tags', 'image_categories', 'image_embeddings', '${GRAPH_INDEX}', 'images_search_vector_idx', 'image_tags_tag_trgm_idx', 'images_search_rum_idx') order by relname`,
  );
  say(`sizes: ${sizes.rows.map((s) => `${s.name} ${s.size}`).join(", ")}`);
  const stamp = { size: options.size, seed: options.seed, topics: options.topics, loadedAt: new Date().toISOString() };
  await c.query(`comment on database ${databaseName} is '${JSON.stringify(stamp)}'`);
  say(`done: load ${loadSeconds.toFixed(1)} s, ${builds.join(", ")}, total ${seconds(started).toFixed(1)} s`);
}

/** COPY text for images [from, to), their tags and their categories; yields to the event loop every 500 rows. */
async function renderBatch(corpus: SearchCorpus, from: number, to: number) {
  const images: string[] = [];
  const tags: string[] = [];
  const categories: string[] = [];
  const embeddings: string[] = [];
  for (let i = from; i < to; i++) {
    if ((i - from) % 500 === 499) await new Promise((r) => setImmediate(r));
    const image = corpus.image(i);
    images.push(imageLine(image));
    if (image.embedding) embeddings.push(`${BENCH_MODEL.id}\t${image.id}\t${vectorLiteral(image.embedding)}`);
    for (const tag of image.tags) tags.push(`${image.id}\t${copyField(tag.tag)}\t${copyField(tag.confidence)}\t${tag.source}`);
    for (const category of image.categories) categories.push(`${image.id}\t${category.slug}\t${copyField(category.confidence)}\t${category.source}`);
  }
  const join = (lines: string[]) => (lines.length ? `${lines.join("\n")}\n` : "");
  return { images: join(images), tags: join(tags), categories: join(categories), embeddings: join(embeddings) };
}

function imageLine(image: CorpusImage): string {
  const processed = image.embedding !== null;
  const ts = (d: Date | null) => (d ? d.toISOString() : null);
  const derivatives = processed
    ? JSON.stringify({
        thumb150: derivativeKey(image.id, "thumb150"),
        thumb450: derivativeKey(image.id, "thumb450"),
        thumb1000: derivativeKey(image.id, "thumb1000"),
        preview: derivativeKey(image.id, "preview"),
      })
    : null;
  const stage = image.status === "processing" ? "processing" : image.status === "processing_failed" ? "failed" : "done";
  const values = [
    image.id,
    image.contributorId,
    image.title,
    image.description,
    image.status,
    image.statusReason,
    image.editorial,
    image.sha256,
    image.phash,
    image.width,
    image.height,
    "jpeg",
    image.bytes,
    image.bytes,
    "image/jpeg",
    stage,
    ts(image.createdAt),
    Math.round((image.width / image.height) * 1000) / 1000,
    processed ? image.colourBucket : null,
    processed ? "done" : "pending",
    originalKey(image.contributorId, image.id, "image/jpeg"),
    derivatives,
    processed ? image.nsfwScore : null,
    processed ? JSON.stringify(image.palette) : null,
    processed ? JSON.stringify({ camera: "Bench Cam", exposure: "1/250", benchTopic: image.topic }) : null,
    image.tags.map((t) => t.tag).join(" "),
    image.viewCount,
    image.downloadCount,
    image.saleCount,
    ts(image.publishedAt),
    ts(image.withdrawnAt),
    ts(image.createdAt),
    ts(image.withdrawnAt ?? image.publishedAt ?? image.createdAt),
  ];
  return values.map(copyField).join("\t");
}
