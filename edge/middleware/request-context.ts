import type { MiddlewareHandler } from "hono";
import { connectDatabase } from "../../db/connect";
import { readConfig } from "../config";
import type { AppEnv } from "../env";

/**
 * Sets what every handler reads: the configuration (parsed once per isolate), no principal yet,
 * and a database pool for this request, closed after the response (Workers cannot share a pool
 * across requests; it connects on first use), plus the HTTP one-statement path to the same database.
 */
export const requestContext: MiddlewareHandler<AppEnv> = async (c, next) => {
  const config = readConfig(c.env);
  c.set("config", config);
  c.set("principal", null);
  const { db, pool, dbHttp } = connectDatabase(config.DATABASE_URL, { localProxy: config.DB_LOCAL_PROXY || undefined });
  c.set("db", db);
  c.set("dbHttp", dbHttp);
  try {
    await next();
  } finally {
    const closing = pool.end().catch(() => undefined);
    try {
      c.executionCtx.waitUntil(closing);
    } catch {
      // No execution context (app.request() in a test): close before answering.
      await closing;
    }
  }
};
