import { realpath, stat, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { S3Client } from "../common/s3";
import { connectDatabase } from "../db/connect";
import { categories } from "../db/schema";
import { tuneVectorSearch } from "../db/vector-search";
import { joinCatalogue, loadModels } from "../gpu-worker/ml/models";
import { type MigrateArgs, parseMigrateArgs, USAGE, type UsageError } from "./args";
import { countByStage, failedPaths } from "./checkpoint";
import { type MigrateConfig, readMigrateConfig, withLocalStack } from "./config";
import { ContributorError, findContributor } from "./contributor";
import { dryRun, formatDryRun } from "./dry-run";
import { dropEmbeddingIndex, ensureEmbeddingIndex } from "./hnsw";
import { createLimit } from "./limit";
import { ManifestError, readManifest } from "./manifest";
import { loadManifest } from "./manifest-store";
import { type Counts, startProgress } from "./progress";
import { writeReport } from "./report";
import { runMigration } from "./run";
import { startStageClock } from "./stages";
import { buildSummary, formatSummary } from "./summary";
import { startAnalysisThreads } from "./threads";
import { walkImages } from "./walk";

/**
 * `bun run migrate <folder> --contributor <id|email> [options]`: lists a folder of existing images
 * through the live pipeline, resumably (docs/migrate.md). Exit codes: 0 when
 * every file is listed or a duplicate, 1 when some failed (see the report) or the run broke off,
 * 2 for usage or configuration errors, 130/143 when stopped by SIGINT/SIGTERM. The first signal
 * stops reading new files and lets the batches in flight finish; a second exits at once.
 */

const log = (msg: string, extra: Record<string, unknown> = {}) => console.error(`[migrate] ${msg}${Object.keys(extra).length > 0 ? ` ${JSON.stringify(extra)}` : ""}`);

function fail(code: number, message: string): never {
  console.error(message);
  process.exit(code);
}

let args: MigrateArgs | null;
try {
  args = parseMigrateArgs(process.argv.slice(2));
} catch (error) {
  fail(2, `${(error as UsageError).message}\n\n${USAGE}`);
}
if (!args) {
  console.log(USAGE);
  process.exit(0);
}
const options = args;

const folder = await realpath(options.folder).catch(() => fail(2, `${options.folder}: no such folder`));
if (!(await stat(folder)).isDirectory()) fail(2, `${options.folder} is not a folder`);

let config: MigrateConfig;
try {
  const local = withLocalStack(process.env);
  if (local.from) log(`DATABASE_URL is not set: using the running local stack's settings from ${local.from}`);
  config = readMigrateConfig(local.env);
} catch (error) {
  fail(2, (error as Error).message);
}

// Connections: the loop's look-ups, and per batch in flight its checkpoint updates and commit.
const { db, pool } = connectDatabase(config.DATABASE_URL, { localProxy: config.DB_LOCAL_PROXY || undefined, max: 8 });
// A run lasts hours: ride out longer R2 hiccups than a job would (6 retries, backoff from 250 ms to about 8 s).
const store = new S3Client({ endpoint: config.s3Endpoint, accessKeyId: config.R2_ACCESS_KEY_ID, secretAccessKey: config.R2_SECRET_ACCESS_KEY, retries: 6, retryBaseDelayMs: 250 });

let contributorId: string;
let knownCategories: Set<string>;
try {
  contributorId = await findContributor(db, options.contributor);
  knownCategories = new Set((await db.select({ slug: categories.slug }).from(categories)).map((c) => c.slug));
} catch (error) {
  await pool.end();
  fail(2, error instanceof ContributorError ? error.message : `cannot read the database: ${(error as Error).message} (are the migrations applied? bun run db:migrate)`);
}

if (options.dryRun) {
  try {
    console.log(formatDryRun(folder, await dryRun(db, folder, options.manifest, knownCategories)));
  } catch (error) {
    await pool.end();
    fail(error instanceof ManifestError ? 2 : 1, (error as Error).message);
  }
  await pool.end();
  process.exit(0);
}

if (options.manifest) {
  try {
    const rows = await loadManifest(db, options.manifest, readManifest(options.manifest, folder), knownCategories);
    log(`manifest loaded: ${rows} row(s)`, { file: options.manifest });
  } catch (error) {
    await pool.end();
    fail(error instanceof ManifestError ? 2 : 1, (error as Error).message);
  }
}

const modelLog = (level: "info" | "warn", msg: string, extra?: Record<string, unknown>) => log(level === "warn" ? `warning: ${msg}` : msg, extra);
const loaded = options.ml ? await loadModels(config, { maxBatch: options.batch, maxWaitMs: 0 }, modelLog) : null;
// The catalogue's CLIP model (db/embedding-models.ts): the run's embeddings are stored under it, and
// during a switch each image gets the model search still reads too.
const catalogue = loaded?.clip ? await joinCatalogue(db, config, loaded.clip, { maxBatch: options.batch, maxWaitMs: 0 }, modelLog) : null;
const models = loaded ? { ...loaded, previousClip: catalogue?.previous ?? null } : null;

if (options.deferIndex && catalogue) {
  await dropEmbeddingIndex(db, catalogue.registered);
  log("embedding index dropped for the run; it is built when the run completes");
}

const started = performance.now();
const clock = startStageClock();
const threads = startAnalysisThreads(options.concurrency, config.MAX_INPUT_PIXELS, clock);
const counts: Counts = { done: 0, failed: 0, skipped: 0, duplicates: 0 };
const stop = new AbortController();
let stoppedBy: string | null = null;
const unreadable: string[] = [];

// The total, for the rate and ETA: a second walk that only counts (or the failed files, when retrying).
let total: number | null = null;
const counting = (async () => {
  if (options.retryFailed) {
    total = (await countByStage(db, folder)).failed ?? 0;
    return;
  }
  let n = 0;
  for await (const _ of walkImages(folder, { onUnreadable: () => {} })) {
    n++;
    if (stop.signal.aborted) return;
  }
  total = n;
})().catch(() => {});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    const code = signal === "SIGINT" ? 130 : 143;
    if (stoppedBy) {
      log(`second ${signal}: exiting now`);
      process.exit(code);
    }
    stoppedBy = signal;
    log(`${signal}: reading no new files; finishing the batches in flight (again to exit at once)`);
    stop.abort();
  });
}

const progress = startProgress({ stream: process.stderr, intervalMs: config.MIGRATE_PROGRESS_MS, counts: () => counts, total: () => total });

const source = options.retryFailed
  ? (async function* () {
      for await (const row of failedPaths(db, folder)) yield row.sourcePath;
    })()
  : walkImages(folder, {
      onUnreadable: (path, error) => {
        unreadable.push(path);
        log(`warning: cannot read the folder ${path}: ${error.message}`);
      },
    });

let broken: Error | null = null;
try {
  await runMigration(
    {
      db,
      store,
      threads,
      models,
      clock,
      uploadLimit: createLimit(options.uploadConcurrency),
      settings: {
        contributorId,
        originalsBucket: config.ORIGINALS_BUCKET_NAME,
        derivativesBucket: config.DERIVATIVES_BUCKET_NAME,
        nsfwThreshold: config.NSFW_THRESHOLD,
        batch: options.batch,
        retryFailed: options.retryFailed,
        knownCategories,
      },
      counts,
      signal: stop.signal,
    },
    source,
  );
} catch (error) {
  broken = error as Error;
}
progress.stop();
stop.abort();
await counting;
await threads.close();
if (broken) log(`the run broke off: ${broken.message}; run the same command again to continue`);

let indexBuildMs: number | null = null;
if (!stoppedBy && !broken) {
  indexBuildMs = catalogue ? await ensureEmbeddingIndex(db, catalogue.registered) : null;
  if (indexBuildMs !== null) log(`embedding index built in ${Math.round(indexBuildMs)} ms`);
  // A large import changes the catalogue's size at once: the search setting follows now, not at the next hourly run.
  const tuning = await tuneVectorSearch(db);
  if (tuning.changed) log(`hnsw.ef_search set to ${tuning.efSearch} for ${tuning.embeddedImages} embedded images (new connections)`);
}

let reportPath: string | null = resolve(options.report ?? `migration-report-${new Date().toISOString().replace(/[:.]/g, "-")}.csv`);
let failuresReported = 0;
try {
  failuresReported = await writeReport(db, folder, reportPath);
} catch (error) {
  log(`the report could not be written: ${(error as Error).message}`);
  reportPath = null;
}
const summary = buildSummary({
  files: counts,
  elapsedMs: performance.now() - started,
  stages: clock.snapshot(),
  reportPath,
  failuresReported,
  indexBuildMs,
  stoppedBy,
});
clock.stop();
console.log(formatSummary(summary));
if (options.summaryJson) await writeFile(options.summaryJson, `${JSON.stringify(summary, null, 2)}\n`);

await models?.nsfw?.close();
await models?.clip?.close();
await models?.previousClip?.close();
await pool.end();
process.exit(stoppedBy === "SIGINT" ? 130 : stoppedBy === "SIGTERM" ? 143 : broken || !reportPath || failuresReported > 0 || unreadable.length > 0 ? 1 : 0);
