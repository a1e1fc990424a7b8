import { hostname } from "node:os";
import { resolve } from "node:path";
import * as v from "valibot";
import { describeConfigIssues } from "../common/config";
import { NEAR_DUPLICATE_MAX_DISTANCE, NSFW_THRESHOLD } from "../common/images";
import { CLIP_MODELS, clipFolderNameOf, DEFAULT_CLIP_MODEL, isClipModelName } from "./ml/clip-models";

export const required = (name: string) => v.pipe(v.string(`${name} is not set`), v.trim(), v.nonEmpty(`${name} is not set`));
export const int = (name: string, fallback: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.transform(Number),
    v.integer(`${name} must be an integer`),
    v.minValue(min, `${name} must be at least ${min}`),
    v.maxValue(max, `${name} must be at most ${max}`),
  );
const number = (name: string, fallback: string, min: number, max: number) =>
  v.pipe(
    v.optional(v.string(), fallback),
    v.transform(Number),
    v.number(`${name} must be a number`),
    v.minValue(min, `${name} must be at least ${min}`),
    v.maxValue(max, `${name} must be at most ${max}`),
  );

/** The NSFW classifier in git (models/nsfw-mobilenet-v2/model.onnx, 10.5 MB): NSFW_MODEL_PATH's default. */
export const DEFAULT_NSFW_MODEL_PATH = resolve(import.meta.dirname, "../models/nsfw-mobilenet-v2/model.onnx");

/**
 * What the worker and the batch migration (migrate/config.ts) both read: the database, R2, the
 * pipeline's limits and the models. One definition, so names and defaults cannot drift apart.
 */
export const PipelineFields = {
  DATABASE_URL: v.pipe(required("DATABASE_URL"), v.url("DATABASE_URL must be a postgres:// URL")),
  DB_LOCAL_PROXY: v.optional(v.string(), ""),
  // R2 through its S3 API (locally: the edge's /_local/s3 stand-in).
  R2_ACCOUNT_ID: v.optional(v.string(), ""),
  R2_S3_ENDPOINT: v.optional(v.string(), ""),
  R2_ACCESS_KEY_ID: required("R2_ACCESS_KEY_ID"),
  R2_SECRET_ACCESS_KEY: required("R2_SECRET_ACCESS_KEY"),
  ORIGINALS_BUCKET_NAME: v.optional(v.string(), "edgestock-originals"),
  DERIVATIVES_BUCKET_NAME: v.optional(v.string(), "edgestock-derivatives"),
  // The pipeline.
  MAX_INPUT_PIXELS: int("MAX_INPUT_PIXELS", "150000000", 1_000_000),
  NSFW_THRESHOLD: number("NSFW_THRESHOLD", String(NSFW_THRESHOLD), 0, 1),
  /** Default: the model in git (models/nsfw-mobilenet-v2/); unloadable: images wait for review. */
  NSFW_MODEL_PATH: v.optional(v.string(), DEFAULT_NSFW_MODEL_PATH),
  ORT_INTRA_OP_THREADS: int("ORT_INTRA_OP_THREADS", "0", 0, 256),
  // CLIP (docs/clip.md): a missing folder is downloaded from the Hub on first start; if that fails,
  // semantic features are off, with a warning and the reason in the heartbeat.
  /** An Immich model name (gpu-worker/ml/clip-models.ts) or an `owner/repo` on the Hub. */
  CLIP_MODEL: v.pipe(
    v.optional(v.string(), DEFAULT_CLIP_MODEL),
    v.trim(),
    v.check(isClipModelName, `CLIP_MODEL must be one of ${Object.keys(CLIP_MODELS).join(", ")} (the CLIP models Immich publishes) or an owner/repo on the Hub`),
  ),
  /** Default: .data/models/clip/<the CLIP_MODEL folder name> (clipModelDirOf). */
  CLIP_MODEL_DIR: v.optional(v.string(), ""),
  CLIP_MODEL_REVISION: v.optional(v.pipe(v.string(), v.trim(), v.nonEmpty()), "main"),
  HF_ENDPOINT: v.pipe(v.optional(v.string(), "https://huggingface.co"), v.trim(), v.url("HF_ENDPOINT must be a URL")),
  HF_TOKEN: v.optional(v.string(), ""),
  /** huggingface_hub's switch: never contact the Hub (a missing model stays missing). */
  HF_HUB_OFFLINE: v.pipe(
    v.optional(v.string(), ""),
    v.transform((s) => ["1", "true", "yes", "on"].includes(s.trim().toLowerCase())),
  ),
  CLIP_CACHE_DIR: v.optional(v.string(), resolve(import.meta.dirname, "../.data/clip-cache")),
  /** Execution providers tried in order; "cpu" alone skips the CUDA attempt (and its log line) on CPU hosts. */
  CLIP_EXECUTION_PROVIDERS: v.pipe(
    v.optional(v.string(), "cuda,cpu"),
    v.transform((s) =>
      s
        .split(",")
        .map((p) => p.trim().toLowerCase())
        .filter(Boolean),
    ),
    v.array(v.picklist(["cuda", "cpu"], "CLIP_EXECUTION_PROVIDERS lists cuda and/or cpu")),
    v.minLength(1, "CLIP_EXECUTION_PROVIDERS lists cuda and/or cpu"),
  ),
};

/** The CLIP model folder: CLIP_MODEL_DIR when set, else `.data/models/clip/<model folder name>`. */
export function clipModelDirOf(config: { CLIP_MODEL_DIR: string; CLIP_MODEL: string }): string {
  return config.CLIP_MODEL_DIR ? resolve(config.CLIP_MODEL_DIR) : resolve(import.meta.dirname, "../.data/models/clip", clipFolderNameOf(config.CLIP_MODEL));
}

/** R2's S3 endpoint: R2_S3_ENDPOINT when set, else the account's; null when neither is set. */
export function s3EndpointOf(config: { R2_S3_ENDPOINT: string; R2_ACCOUNT_ID: string }): string | null {
  if (!config.R2_S3_ENDPOINT && !config.R2_ACCOUNT_ID) return null;
  return (config.R2_S3_ENDPOINT || `https://${config.R2_ACCOUNT_ID}.r2.cloudflarestorage.com`).replace(/\/+$/, "");
}

const Schema = v.object({
  ...PipelineFields,
  WORKER_ID: v.optional(v.pipe(v.string(), v.trim(), v.nonEmpty(), v.maxLength(100)), `${hostname()}-${process.pid}`),
  HEARTBEAT_INTERVAL_MS: int("HEARTBEAT_INTERVAL_MS", "5000", 500),
  // Cloudflare Queues HTTP pull consumer (locally: the edge's /_local/queues stand-in).
  QUEUES_API_URL: v.optional(v.pipe(v.string(), v.url("QUEUES_API_URL must be a URL")), "https://api.cloudflare.com/client/v4"),
  CF_ACCOUNT_ID: required("CF_ACCOUNT_ID"),
  JOBS_QUEUE_ID: required("JOBS_QUEUE_ID"),
  QUEUES_API_TOKEN: required("QUEUES_API_TOKEN"),
  // How the worker pulls and runs jobs.
  WORKER_CONCURRENCY: int("WORKER_CONCURRENCY", "2", 1, 64),
  WORKER_BATCH_SIZE: int("WORKER_BATCH_SIZE", "4", 1, 100),
  /** Images per batch of a CLIP model switch's re-embedding (gpu-worker/reembed.ts); 0: this worker does not re-embed. */
  REEMBED_BATCH_SIZE: int("REEMBED_BATCH_SIZE", "16", 0, 256),
  VISIBILITY_TIMEOUT_MS: int("VISIBILITY_TIMEOUT_MS", "120000", 1000, 43_200_000),
  POLL_INTERVAL_MS: int("POLL_INTERVAL_MS", "1000", 50, 60_000),
  /**
   * Replaces every job's first retry delay (seconds; tests set 0). Unset: each job's policy in
   * common/jobs.ts, which also holds the attempts (they must match the queue's --message-retries).
   */
  RETRY_BASE_SECONDS: v.optional(
    v.pipe(
      v.string(),
      v.transform(Number),
      v.integer("RETRY_BASE_SECONDS must be an integer"),
      v.minValue(0, "RETRY_BASE_SECONDS must be at least 0"),
      v.maxValue(300, "RETRY_BASE_SECONDS must be at most 300"),
    ),
  ),
  /** How long SIGTERM waits for jobs in flight before releasing them back to the queue. */
  SHUTDOWN_GRACE_MS: int("SHUTDOWN_GRACE_MS", "20000", 0, 600_000),
  /** Two images whose perceptual hashes differ in at most this many of 64 bits are near duplicates. */
  PHASH_MAX_DISTANCE: int("PHASH_MAX_DISTANCE", String(NEAR_DUPLICATE_MAX_DISTANCE), 0, 32),
  CLIP_MAX_BATCH: int("CLIP_MAX_BATCH", "32", 1, 64),
  CLIP_MAX_WAIT_MS: int("CLIP_MAX_WAIT_MS", "5", 0, 1000),
  // The query-embedding service the edge calls; off unless WORKER_SHARED_SECRET is set.
  WORKER_SHARED_SECRET: v.optional(v.string(), ""),
  EMBED_HOST: v.optional(v.string(), "127.0.0.1"),
  EMBED_PORT: int("EMBED_PORT", "8788", 0, 65535),
});

export type WorkerConfig = v.InferOutput<typeof Schema> & { s3Endpoint: string };

/** Parses the worker's environment once at start; the error names every missing or bad variable. */
export function readWorkerConfig(env: Record<string, string | undefined>): WorkerConfig {
  const result = v.safeParse(Schema, env);
  if (!result.success) {
    throw new Error(`gpu-worker configuration: ${describeConfigIssues(result.issues)}`);
  }
  const s3Endpoint = s3EndpointOf(result.output);
  if (!s3Endpoint) throw new Error("gpu-worker configuration: R2_ACCOUNT_ID is not set (or set R2_S3_ENDPOINT)");
  return { ...result.output, s3Endpoint };
}
