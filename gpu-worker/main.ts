import { availableParallelism } from "node:os";
import { log } from "../common/log";
import { S3Client } from "../common/s3";
import { connectDatabase } from "../db/connect";
import { activateWhenCovered, dropRetiredModels, RETIRED_GRACE_MS } from "../db/embedding-models";
import { readWorkerConfig } from "./config";
import { startEmbedServer } from "./embed-server";
import { beat } from "./heartbeat";
import { configureImaging, imagingThreads } from "./imaging";
import { type ImageJobDeps, processImage, recordProcessFailure } from "./jobs/image-process";
import { recordReprocessFailure, reprocessImage } from "./jobs/image-reprocess";
import { joinCatalogue, loadModels } from "./ml/models";
import { createQueueClient } from "./queue-client";
import { runReembedding } from "./reembed";
import { checkHandlers, type Handlers, startRunner } from "./runner";

/**
 * The GPU worker process (`bun run worker`): pulls jobs from Cloudflare Queues over HTTP (locally
 * from the edge's stand-in), runs them, and reports liveness. Configuration is checked first and
 * a missing variable stops it with a message naming it. The first SIGTERM/SIGINT stops pulling,
 * lets jobs in flight finish (or releases them after SHUTDOWN_GRACE_MS); a second exits at once.
 */
let config: ReturnType<typeof readWorkerConfig>;
try {
  config = readWorkerConfig(process.env);
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}

// Jobs run side by side; each gets its share of the cores for libvips (one decode per job).
configureImaging({ threads: Math.max(1, Math.floor(availableParallelism() / config.WORKER_CONCURRENCY)) });

const { db, pool } = connectDatabase(config.DATABASE_URL, { localProxy: config.DB_LOCAL_PROXY || undefined, max: config.WORKER_CONCURRENCY + 2 });
const store = new S3Client({ endpoint: config.s3Endpoint, accessKeyId: config.R2_ACCESS_KEY_ID, secretAccessKey: config.R2_SECRET_ACCESS_KEY });

// Liveness while the models load: a first start may spend minutes downloading the CLIP model.
const loading = {
  jobTypes: [],
  nsfw: false,
  clip: null,
  clipUnavailable: { why: "the worker is loading its models (a first start downloads the CLIP model)", detail: "loading" },
  embedService: false,
};
const beatWhileLoading = () => void beat(db, config.WORKER_ID, loading).catch((error: Error) => log.error("heartbeat failed", { error: error.message }));
beatWhileLoading();
const loadingBeats = setInterval(beatWhileLoading, config.HEARTBEAT_INTERVAL_MS);
const { nsfw, clip, tagger, clipUnavailable } = await loadModels(config, { maxBatch: config.CLIP_MAX_BATCH, maxWaitMs: config.CLIP_MAX_WAIT_MS }, (level, msg, extra) =>
  log[level](msg, extra),
).finally(() => clearInterval(loadingBeats));
// The catalogue's CLIP model (db/embedding-models.ts): registered, and during a switch the model
// search still reads is loaded too, for new images' second embedding and for query embeddings.
const catalogue = clip
  ? await joinCatalogue(db, config, clip, { maxBatch: config.CLIP_MAX_BATCH, maxWaitMs: config.CLIP_MAX_WAIT_MS }, (level, msg, extra) => log[level](msg, extra))
  : null;
const previousClip = catalogue?.previous ?? null;
const embedServer = config.WORKER_SHARED_SECRET
  ? startEmbedServer({
      port: config.EMBED_PORT,
      hostname: config.EMBED_HOST,
      secret: config.WORKER_SHARED_SECRET,
      clip,
      previousClip,
      maxImagePixels: config.MAX_INPUT_PIXELS,
    })
  : null;
if (embedServer) log.info("embedding service listening", { url: `http://${config.EMBED_HOST}:${embedServer.port}`, model: clip?.modelId ?? null });

const jobDeps: ImageJobDeps = {
  db,
  store,
  models: { nsfw, clip, tagger, previousClip },
  settings: {
    originalsBucket: config.ORIGINALS_BUCKET_NAME,
    derivativesBucket: config.DERIVATIVES_BUCKET_NAME,
    maxInputPixels: config.MAX_INPUT_PIXELS,
    phashMaxDistance: config.PHASH_MAX_DISTANCE,
    nsfwThreshold: config.NSFW_THRESHOLD,
  },
};
// One entry per job type of common/jobs.ts: what runs it, and how a failed attempt is recorded.
const handlers: Handlers = {
  "image.process": { run: (message, context) => processImage(jobDeps, message, context), recordFailure: recordProcessFailure(db) },
  "image.reprocess": { run: (message, context) => reprocessImage(jobDeps, message, context), recordFailure: recordReprocessFailure(db) },
};
checkHandlers(handlers);

const runner = startRunner({
  queue: createQueueClient({ apiUrl: config.QUEUES_API_URL, accountId: config.CF_ACCOUNT_ID, queueId: config.JOBS_QUEUE_ID, token: config.QUEUES_API_TOKEN }),
  handlers,
  concurrency: config.WORKER_CONCURRENCY,
  batchSize: config.WORKER_BATCH_SIZE,
  visibilityTimeoutMs: config.VISIBILITY_TIMEOUT_MS,
  pollIntervalMs: config.POLL_INTERVAL_MS,
  retryBaseSeconds: config.RETRY_BASE_SECONDS,
  shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
  log,
});

const heartbeat = new AbortController();
let stopping = false;
async function stop(signal: string) {
  if (stopping) {
    log.warn("second signal: exiting now", { signal });
    process.exit(1);
  }
  stopping = true;
  log.info("stopping: no new jobs; finishing the ones in flight", { signal, active: runner.active });
  heartbeat.abort();
  const result = await runner.stop();
  // The re-embedding stops between batches; a killed worker loses only its batch in flight.
  await reembedding;
  await embedServer?.stop();
  await nsfw?.close();
  await clip?.close();
  await previousClip?.close();
  await pool.end();
  log.info("worker stopped", result);
  process.exit(0);
}
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));

log.info("worker started", {
  workerId: config.WORKER_ID,
  queue: config.JOBS_QUEUE_ID,
  concurrency: config.WORKER_CONCURRENCY,
  libvipsThreads: imagingThreads(),
  nsfw: nsfw !== null,
});
// clipUnavailable says why there is no CLIP (download refused, offline, a bad folder), for GET /v1/health.
const capabilities: Record<string, unknown> = {
  jobTypes: Object.keys(handlers),
  nsfw: nsfw !== null,
  clip: clip?.modelId ?? null,
  clipUnavailable,
  embedService: embedServer !== null,
  // During a switch: the model search reads, and the re-embedding's progress (gpu-worker/reembed.ts).
  searchModel: catalogue?.active?.model ?? null,
  reembed: null,
};
// A switch of CLIP model (db/embedding-models.ts): this worker re-embeds the catalogue in the
// background (gpu-worker/reembed.ts; new uploads get both embeddings meanwhile) and search moves to the
// new model in one step once it covers every image; progress goes out with the heartbeat (GET
// /v1/health, the console). The check below also catches a switch finished by other workers or by
// reprocess jobs; the old vectors go after RETIRED_GRACE_MS.
const reembedding =
  catalogue && clip && catalogue.registered.state === "building" && config.REEMBED_BATCH_SIZE > 0
    ? runReembedding(
        {
          db,
          store,
          settings: { originalsBucket: config.ORIGINALS_BUCKET_NAME, maxInputPixels: config.MAX_INPUT_PIXELS },
          clip,
          tagger,
          log: (level, msg, extra) => log[level](msg, extra),
          batchSize: config.REEMBED_BATCH_SIZE,
        },
        catalogue.registered,
        { signal: heartbeat.signal, onProgress: (progress) => (capabilities.reembed = progress) },
      )
        .then((outcome) => {
          if (outcome === "switched") capabilities.searchModel = catalogue.registered.model;
          return outcome;
        })
        .catch((error: Error) => {
          log.error("re-embedding stopped by an error; restart the worker to resume", { error: error.message });
          return "stopped" as const;
        })
    : null;
const SWITCH_CHECK_MS = 60_000;
let switchCheckedAt = 0;
async function followSwitch() {
  if (!catalogue || Date.now() - switchCheckedAt < SWITCH_CHECK_MS) return;
  switchCheckedAt = Date.now();
  if (catalogue.registered.state === "building" && (await activateWhenCovered(db, catalogue.registered.id))) {
    catalogue.registered.state = "active";
    capabilities.searchModel = catalogue.registered.model;
    log.info("CLIP model switched: search now reads this worker's model", { model: catalogue.registered.model });
  }
  const dropped = await dropRetiredModels(db, RETIRED_GRACE_MS);
  if (dropped.length > 0) log.info("retired CLIP models' vectors dropped", { models: dropped });
}
while (!heartbeat.signal.aborted) {
  try {
    await beat(db, config.WORKER_ID, capabilities);
  } catch (error) {
    log.error("heartbeat failed", { error: (error as Error).message });
  }
  await followSwitch().catch((error: Error) => log.error("model switch check failed", { error: error.message }));
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, config.HEARTBEAT_INTERVAL_MS);
    heartbeat.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}
