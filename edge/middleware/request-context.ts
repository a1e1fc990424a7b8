import type { MiddlewareHandler } from "hono";
import { log } from "../../common/log";
import { connectDatabase } from "../../db/connect";
import { publicUrls } from "../adapters/public-urls";
import { r2Client } from "../adapters/r2";
import { openStore } from "../adapters/store";
import { readConfig } from "../config";
import type { AppEnv, Runtime } from "../env";
import { executionContext } from "../lib/route";
import { CSRF_HEADER, csrfMatches, sessionCookie } from "../lib/session-cookies";
import { API_KEY_HEADER, authenticate } from "../services/accounts/authenticate";

/**
 * Sets, once per request, what every handler and service reads: the configuration (parsed once
 * per isolate), no principal yet and the `authenticate` that sets it, a database pool for this
 * request, closed after the response (Workers cannot share a pool across requests; it connects on
 * first use), the HTTP one-statement path to the same database and to the read replica if any, R2's S3 client, the public-URL
 * builder, the store and a logger carrying the request id. `runtime` is what the entry injects
 * (the local entry: the in-process S3 stand-in).
 */
export function requestContext(runtime: Runtime = {}): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    // The logger first: a configuration error below is still logged with the request id.
    c.set("log", log.child({ requestId: c.get("requestId") }));
    const config = readConfig(c.env);
    c.set("config", config);
    c.set("principal", null);
    const { db, pool, dbHttp, dbRead } = connectDatabase(config.DATABASE_URL, {
      localProxy: config.DB_LOCAL_PROXY || undefined,
      readUrl: config.DATABASE_URL_READ || undefined,
    });
    c.set("db", db);
    c.set("dbHttp", dbHttp);
    c.set("dbRead", dbRead);
    c.set("s3", r2Client(config, runtime.s3Fetch?.(config, c.env, executionContext(c))));
    c.set("urls", publicUrls(config));
    c.set("store", openStore(config));
    c.set("authenticate", async (required) => {
      const token = sessionCookie(c);
      const webSession = token ? { token, csrfVerified: async () => c.get("csrfVerified") === true || (await csrfMatches(c, c.req.header(CSRF_HEADER))) } : undefined;
      const credentials = { authorization: c.req.header("authorization"), apiKey: c.req.header(API_KEY_HEADER), method: c.req.method, webSession };
      const principal = await authenticate({ db, config }, credentials, required);
      c.set("principal", principal);
      return principal;
    });
    try {
      await next();
    } finally {
      const closing = pool.end().catch(() => undefined);
      const ctx = executionContext(c);
      if (ctx) ctx.waitUntil(closing);
      // No execution context (app.request() in a test): close before answering.
      else await closing;
    }
  };
}
