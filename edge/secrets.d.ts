/**
 * The Worker's secrets. `wrangler types` writes edge/worker-configuration.d.ts from wrangler.toml (its
 * bindings and vars); secrets are in no file it reads (production: `wrangler secret put`; `npm start`:
 * its data folder's dev.vars), so they are declared here, merged into the same `Env`. edge/config.ts
 * parses and checks them when a request arrives; test/checks/generated.test.ts holds this list equal
 * to .dev.vars.example's. Optional ones may be absent.
 */
declare namespace Cloudflare {
  interface Env {
    /** Neon Postgres connection string. */
    DATABASE_URL: string;
    /** A Neon read replica's connection string for search traffic; unset: the primary. */
    DATABASE_URL_READ?: string;
    /** Local development only: host:port of the WebSocket-to-Postgres proxy. */
    DB_LOCAL_PROXY?: string;
    /** Ed25519 private key, PKCS#8 PEM (signs access tokens). */
    JWT_PRIVATE_KEY: string;
    /** Ed25519 public key, SPKI PEM (verifies access tokens). */
    JWT_PUBLIC_KEY: string;
    /** Stripe API key; required in production. */
    STRIPE_SECRET_KEY?: string;
    /** Stripe webhook endpoint signing secret; required in production. */
    STRIPE_WEBHOOK_SECRET?: string;
    /** Local development only: URL of the Stripe stand-in. */
    STRIPE_API_BASE?: string;
    /** Upstash Redis REST URL and token; unset: the in-isolate store. */
    UPSTASH_REDIS_REST_URL?: string;
    UPSTASH_REDIS_REST_TOKEN?: string;
    /** Cloudflare account id (R2's S3 endpoint), unless R2_S3_ENDPOINT is set. */
    R2_ACCOUNT_ID?: string;
    R2_S3_ENDPOINT?: string;
    /** Local development only: bearer token of the /_local/queues pull stand-in. */
    LOCAL_QUEUES_TOKEN?: string;
    /** R2 S3 API token (presigned uploads and downloads). */
    R2_ACCESS_KEY_ID: string;
    R2_SECRET_ACCESS_KEY: string;
    /** Shared secret between the edge and the GPU workers' embedding service. */
    WORKER_SHARED_SECRET?: string;
    /** Base URL of the GPU workers' query-embedding service. */
    EMBED_SERVICE_URL?: string;
    /** Zone of DERIVATIVES_PUBLIC_URL's domain and a Cache Purge token: takedowns purge the CDN. */
    CLOUDFLARE_ZONE_ID?: string;
    CLOUDFLARE_API_TOKEN?: string;
  }
}
