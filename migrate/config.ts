import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import * as v from "valibot";
import { describeConfigIssues } from "../common/config";
import { int, PipelineFields, s3EndpointOf } from "../gpu-worker/config";

/**
 * The migration's environment, parsed once at start with the worker's own definitions (database,
 * R2, pipeline limits, models: gpu-worker/config.ts PipelineFields). Locally, with no DATABASE_URL
 * in the environment, a running `npm start` supplies the defaults through the stack.json it writes.
 */

const Schema = v.object({
  ...PipelineFields,
  /** How often the progress line is printed when stderr is not a terminal. */
  MIGRATE_PROGRESS_MS: int("MIGRATE_PROGRESS_MS", "5000", 100),
});

export type MigrateConfig = v.InferOutput<typeof Schema> & { s3Endpoint: string };

const StackFile = v.object({
  databaseUrl: v.string(),
  databaseProxy: v.string(),
  workerEnv: v.record(v.string(), v.string()),
});

const ROOT = resolve(import.meta.dirname, "..");

/**
 * The environment a running local stack (`npm start`) wrote to `<EDGESTOCK_DATA_DIR or .data>/stack.json`,
 * under the variables given, when DATABASE_URL is not set; `from` names the file (null when unused).
 */
export function withLocalStack(env: Record<string, string | undefined>): { env: Record<string, string | undefined>; from: string | null } {
  if (env.DATABASE_URL) return { env, from: null };
  const file = resolve(ROOT, env.EDGESTOCK_DATA_DIR ?? ".data", "stack.json");
  if (!existsSync(file)) return { env, from: null };
  const stack = v.safeParse(StackFile, JSON.parse(readFileSync(file, "utf8")));
  if (!stack.success) throw new Error(`migrate configuration: ${file} is not a stack.json written by npm start (${describeConfigIssues(stack.issues)})`);
  const { databaseUrl, databaseProxy, workerEnv } = stack.output;
  return { env: { ...workerEnv, ...env, DATABASE_URL: databaseUrl, DB_LOCAL_PROXY: databaseProxy }, from: file };
}

/** Parses the migration's environment; the error names every missing or bad variable. */
export function readMigrateConfig(env: Record<string, string | undefined>): MigrateConfig {
  const result = v.safeParse(Schema, env);
  if (!result.success) throw new Error(`migrate configuration: ${describeConfigIssues(result.issues)}`);
  const s3Endpoint = s3EndpointOf(result.output);
  if (!s3Endpoint) throw new Error("migrate configuration: R2_ACCOUNT_ID is not set (or set R2_S3_ENDPOINT)");
  return { ...result.output, s3Endpoint };
}
