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
});

export type Config = v.InferOutput<typeof ConfigSchema>;

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
  cache.set(env, result.output);
  return result.output;
}
