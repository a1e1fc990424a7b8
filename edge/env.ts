import type { Logger } from "../common/log";
import type { S3Client } from "../common/s3";
import type { Database, HttpDatabase } from "../db/connect";
import type { PublicUrls } from "./adapters/public-urls";
import type { Store } from "./adapters/store";
import type { Config } from "./config";
import type { Principal } from "./lib/principal";

/** The one Hono environment type every sub-app and middleware uses. */
export type AppEnv = {
  Bindings: Env;
  Variables: {
    requestId: string;
    config: Config;
    /** Opened lazily on first use, closed after the response. */
    db: Database;
    /** The same database over Neon's HTTP endpoint, for hot reads that are one statement. */
    dbHttp: HttpDatabase;
    /**
     * Search traffic's HTTP path: the read replica (DATABASE_URL_READ) when there is one, else `dbHttp`.
     * Only for reads that may lag the primary by the replica's delay: never for a grant or a write.
     */
    dbRead: HttpDatabase;
    /** Who is calling; null when anonymous. Set by `authenticate` (spec() calls it). */
    principal: Principal | null;
    /** R2's S3 API (presigning, multipart); locally the in-process stand-in. */
    s3: S3Client;
    /** Public URLs of renditions and of the app. */
    urls: PublicUrls;
    /** The cache and rate-limit store (Upstash, or the in-isolate stand-in). */
    store: Store;
    /** The logger, every line carrying this request's id. */
    log: Logger;
    /**
     * Resolves the caller from this request's credentials and sets `principal`; `required` refuses
     * an anonymous call. spec() calls it, so the HTTP plumbing (edge/lib) imports no service.
     */
    authenticate: (required: boolean) => Promise<Principal | null>;
    /** The web app's CSRF cookie value, once read or set in this request (edge/lib/session-cookies.ts). */
    csrfCookie?: string;
    /** A session token set (string) or cleared (null) by this request; undefined: the cookie as sent. */
    sessionToken?: string | null;
    /** Set by a page's middleware once the form's CSRF token checked out (edge/web/page.ts). */
    csrfVerified?: boolean;
  };
};

/**
 * What an entry adds to the production app. edge/index.ts passes nothing; edge/local.ts passes the
 * in-process S3 stand-in, so no edge/dev code is bundled into production.
 */
export type Runtime = {
  /** The fetch R2's S3 client uses for this request, or undefined for the network. */
  s3Fetch?: (config: Config, env: Env, ctx?: ExecutionContext) => typeof fetch | undefined;
};
