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
  /**
   * A read replica for search traffic (search, suggestions, search by image): a Neon read replica
   * compute of the same branch. Empty: the primary. Grants, pages and writes always use the primary.
   */
  DATABASE_URL_READ: optional,
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
  /** Stripe API key (sk_live_... / sk_test_...). Locally the Stripe stand-in's key. */
  STRIPE_SECRET_KEY: optional,
  /** Signing secret of the Stripe webhook endpoint (whsec_...); the webhook refuses everything without it. */
  STRIPE_WEBHOOK_SECRET: optional,
  /** Development only: base URL of the local Stripe stand-in (http://127.0.0.1:12111); the SDK's host, port and protocol come from it. */
  STRIPE_API_BASE: optional,
  /**
   * Origins whose pages may call the API from a browser (CORS): `*` (any origin; the default) or a
   * comma-separated list such as `https://shop.example.com,https://cms.example.org`. Never with credentials.
   */
  CORS_ORIGINS: v.optional(v.string(), "*"),
  /** Where buyers and contributors return after Stripe Checkout and Connect onboarding. */
  PUBLIC_APP_URL: v.optional(v.pipe(v.string(), v.url("PUBLIC_APP_URL must be a URL")), "http://127.0.0.1:8787"),
  /** Contributor share by tier in basis points, `tier:bps` comma-separated (2500 = 25 %). */
  REVENUE_SHARE_BPS: v.optional(v.string(), "standard:2500,silver:3000,gold:3500,platinum:4000"),
  /** Earnings stay pending this many days (the refund window) before they can be paid out. */
  EARNINGS_HOLD_DAYS: v.pipe(v.optional(v.string(), "30"), v.transform(Number), v.integer(), v.minValue(0)),
  /** A contributor is paid when the available balance reaches this many cents. */
  PAYOUT_MINIMUM_CENTS: v.pipe(v.optional(v.string(), "5000"), v.transform(Number), v.integer(), v.minValue(1)),
  /** Lifetime of signed download URLs to originals, seconds. */
  DOWNLOAD_URL_TTL_SECONDS: v.pipe(v.optional(v.string(), "300"), v.transform(Number), v.integer(), v.minValue(10), v.maxValue(3600)),
  /** Cloudflare zone of DERIVATIVES_PUBLIC_URL and an API token with Cache Purge on it: takedowns and withdrawals purge the renditions' URLs. Empty: the operator purges (README). */
  CLOUDFLARE_ZONE_ID: optional,
  CLOUDFLARE_API_TOKEN: optional,
  /**
   * Whether CF-Connecting-IP names the client: "true" only behind Cloudflare, which sets it and
   * overwrites a client's own. Unset: true in production, false elsewhere (per-IP limits then
   * count every client as one).
   */
  TRUST_CF_CONNECTING_IP: v.optional(v.picklist(["", "true", "false"], "TRUST_CF_CONNECTING_IP must be true or false"), ""),
  /** Development only: bearer token of the local Queues pull-consumer stand-in (/_local/queues). */
  LOCAL_QUEUES_TOKEN: optional,
  /**
   * "true": every JSON response is checked against the schema its route declares, a mismatch
   * answered as a 500 (lib/route.ts). The edge tests set it; it costs a parse per response, so
   * production leaves it unset.
   */
  VALIDATE_RESPONSES: v.optional(v.picklist(["", "true", "false"], "VALIDATE_RESPONSES must be true or false"), ""),
});

export type Config = v.InferOutput<typeof ConfigSchema> & {
  s3Endpoint: string;
  /** CORS_ORIGINS parsed: `*` or the exact origins allowed (middleware/cors.ts). */
  corsOrigins: "*" | string[];
  revenueShare: Record<string, number>;
  trustCfConnectingIp: boolean;
  validateResponses: boolean;
};

/** `standard:2500,gold:3500` → { standard: 2500, gold: 3500 }; a `standard` tier is required. */
function parseRevenueShare(value: string): Record<string, number> {
  const tiers: Record<string, number> = {};
  for (const entry of value
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean)) {
    const [, tier, digits] = /^([a-z0-9_-]+):(\d{1,5})$/.exec(entry) ?? [];
    const bps = Number(digits);
    if (!tier || !digits || bps > 10_000) throw new ConfigError(`invalid edge configuration: REVENUE_SHARE_BPS entry "${entry}" is not tier:bps (0-10000)`);
    tiers[tier] = bps;
  }
  if (tiers.standard === undefined) throw new ConfigError("invalid edge configuration: REVENUE_SHARE_BPS needs a standard tier");
  return tiers;
}

/** `*`, or a list of origins (`scheme://host[:port]`, nothing after it); anything else is a configuration error. */
function parseCorsOrigins(value: string): "*" | string[] {
  if (value.trim() === "*") return "*";
  const origins = value
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);
  for (const origin of origins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {}
    if (!parsed || parsed.origin !== origin || !/^https?:$/.test(parsed.protocol)) {
      throw new ConfigError(`invalid edge configuration: CORS_ORIGINS entry "${origin}" is not an origin such as https://shop.example.com (or use *)`);
    }
  }
  return origins;
}

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
  if (result.output.ENVIRONMENT === "production" && result.output.STRIPE_API_BASE) {
    throw new ConfigError("invalid edge configuration: STRIPE_API_BASE must not be set in production");
  }
  if (result.output.ENVIRONMENT === "production" && (!result.output.STRIPE_SECRET_KEY || !result.output.STRIPE_WEBHOOK_SECRET)) {
    throw new ConfigError("invalid edge configuration: STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET are required in production");
  }
  const revenueShare = parseRevenueShare(result.output.REVENUE_SHARE_BPS);
  const trustCfConnectingIp = result.output.TRUST_CF_CONNECTING_IP ? result.output.TRUST_CF_CONNECTING_IP === "true" : result.output.ENVIRONMENT === "production";
  const validateResponses = result.output.VALIDATE_RESPONSES === "true";
  const config = {
    ...result.output,
    revenueShare,
    corsOrigins: parseCorsOrigins(result.output.CORS_ORIGINS),
    trustCfConnectingIp,
    validateResponses,
    s3Endpoint: (R2_S3_ENDPOINT || `https://${R2_ACCOUNT_ID}.r2.cloudflarestorage.com`).replace(/\/+$/, ""),
  };
  cache.set(env, config);
  return config;
}
