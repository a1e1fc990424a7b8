import * as v from "valibot";
import { describeConfigIssues } from "../common/config";

const optional = v.pipe(
  v.optional(v.string(), ""),
  v.transform((s) => s.trim()),
);
const required = (name: string) => v.pipe(v.string(`${name} is not set`), v.trim(), v.nonEmpty(`${name} is not set`));

/**
 * Everything the edge reads from its environment, parsed once per isolate. Required secrets
 * fail fast with a message naming the variable; optional integrations are empty strings when
 * unset and the code falls back to the local stand-in.
 */
const ConfigSchema = v.object({
  ENVIRONMENT: v.optional(v.picklist(["development", "test", "production"]), "development"),
  DATABASE_URL: required("DATABASE_URL"),
  DB_LOCAL_PROXY: optional,
  JWT_PRIVATE_KEY: required("JWT_PRIVATE_KEY"),
  JWT_PUBLIC_KEY: required("JWT_PUBLIC_KEY"),
  JWT_ISSUER: required("JWT_ISSUER"),
  JWT_AUDIENCE: required("JWT_AUDIENCE"),
  UPSTASH_REDIS_REST_URL: optional,
  UPSTASH_REDIS_REST_TOKEN: optional,
  MAX_JSON_BODY_BYTES: v.pipe(v.optional(v.string(), "65536"), v.transform(Number), v.integer(), v.minValue(1024)),
  /** R2's S3 API: presigned upload/download URLs and multipart uploads are signed with these. */
  R2_ACCOUNT_ID: optional,
  /** Overrides https://<R2_ACCOUNT_ID>.r2.cloudflarestorage.com; locally the edge's own /_local/s3 stand-in. */
  R2_S3_ENDPOINT: optional,
  R2_ACCESS_KEY_ID: required("R2_ACCESS_KEY_ID"),
  R2_SECRET_ACCESS_KEY: required("R2_SECRET_ACCESS_KEY"),
  ORIGINALS_BUCKET_NAME: v.optional(v.string(), "edgestock-originals"),
  DERIVATIVES_BUCKET_NAME: v.optional(v.string(), "edgestock-derivatives"),
  DERIVATIVES_PUBLIC_URL: v.optional(v.pipe(v.string(), v.url("DERIVATIVES_PUBLIC_URL must be a URL")), "http://127.0.0.1:8787/v1/derivatives"),
  /** The GPU worker's query-embedding service (POST /embed/text); empty: semantic search unavailable. */
  EMBED_SERVICE_URL: optional,
  /** Shared secret the edge presents to the worker's embedding service. */
  WORKER_SHARED_SECRET: optional,
  /** The CLIP model the embedding service runs; part of the query-embedding cache key. */
  CLIP_MODEL_ID: optional,
  /** Development only: bearer token of the local Queues pull-consumer stand-in (/_local/queues). */
  LOCAL_QUEUES_TOKEN: optional,
});

export type Config = v.InferOutput<typeof ConfigSchema> & { s3Endpoint: string };

const cache = new WeakMap<object, Config>();

export class ConfigError extends Error {}

export function readConfig(env: Env): Config {
  const hit = cache.get(env);
  if (hit) return hit;
  const result = v.safeParse(ConfigSchema, env);
  if (!result.success) {
    throw new ConfigError(`invalid edge configuration: ${describeConfigIssues(result.issues)}`);
  }
  if (result.output.ENVIRONMENT === "production" && result.output.DB_LOCAL_PROXY) {
    throw new ConfigError("invalid edge configuration: DB_LOCAL_PROXY must not be set in production");
  }
  const { R2_S3_ENDPOINT, R2_ACCOUNT_ID } = result.output;
  if (!R2_S3_ENDPOINT && !R2_ACCOUNT_ID) {
    throw new ConfigError("invalid edge configuration: R2_ACCOUNT_ID is not set (or set R2_S3_ENDPOINT)");
  }
  if (result.output.ENVIRONMENT === "production" && result.output.LOCAL_QUEUES_TOKEN) {
    throw new ConfigError("invalid edge configuration: LOCAL_QUEUES_TOKEN must not be set in production");
  }
  const config = { ...result.output, s3Endpoint: (R2_S3_ENDPOINT || `https://${R2_ACCOUNT_ID}.r2.cloudflarestorage.com`).replace(/\/+$/, "") };
  cache.set(env, config);
  return config;
}
