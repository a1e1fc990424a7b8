import { hostname } from "node:os";
import * as v from "valibot";
import { describeConfigIssues } from "../common/config";

const Schema = v.object({
  DATABASE_URL: v.pipe(v.string("DATABASE_URL is not set"), v.trim(), v.nonEmpty("DATABASE_URL is not set"), v.url("DATABASE_URL must be a postgres:// URL")),
  DB_LOCAL_PROXY: v.optional(v.string(), ""),
  WORKER_ID: v.optional(v.pipe(v.string(), v.trim(), v.nonEmpty(), v.maxLength(100)), `${hostname()}-${process.pid}`),
  HEARTBEAT_INTERVAL_MS: v.pipe(v.optional(v.string(), "5000"), v.transform(Number), v.integer("HEARTBEAT_INTERVAL_MS must be an integer"), v.minValue(500)),
});

export type WorkerConfig = v.InferOutput<typeof Schema>;

/** Parses the worker's environment once at start; the error names every missing or bad variable. */
export function readWorkerConfig(env: Record<string, string | undefined>): WorkerConfig {
  const result = v.safeParse(Schema, env);
  if (!result.success) {
    throw new Error(`gpu-worker configuration: ${describeConfigIssues(result.issues)}`);
  }
  return result.output;
}
