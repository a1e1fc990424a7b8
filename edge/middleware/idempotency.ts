import { and, eq, lt } from "drizzle-orm";
import type { MiddlewareHandler } from "hono";
import type { Database } from "../../db/connect";
import { idempotencyKeys } from "../../db/schema";
import type { AppEnv } from "../env";
import { sha256Hex } from "../lib/crypto";
import { ApiError } from "../lib/problem";
import { clientIp } from "../lib/rate-limit";

const TTL_MS = 24 * 3600 * 1000;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const REPLAYED_HEADERS = ["content-type", "location"];

/**
 * `Idempotency-Key` support for POSTs that create something (IETF httpapi idempotency draft):
 * the first request with a key runs and its response is stored for 24 h; a retry with the same
 * key and body gets that response again (`Idempotency-Replayed: true`) without running twice;
 * the same key with another body is a 422; a retry while the first is still running is a 409.
 * Server errors are not stored, so a retry after a 5xx runs again. Fields named in `redact`
 * (secrets shown once) are removed from the stored copy.
 */
export function idempotent(options: { redact?: string[] } = {}): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = c.req.header("idempotency-key");
    if (key === undefined) return next();
    if (!KEY_PATTERN.test(key)) {
      throw new ApiError("validation-failed", "Idempotency-Key must be 1-255 visible ASCII characters", {
        errors: [{ path: "Idempotency-Key", message: "invalid" }],
      });
    }
    const principal = c.var.principal ? `user:${c.var.principal.userId}` : `ip:${clientIp(c)}`;
    const method = c.req.method;
    const path = new URL(c.req.url).pathname;
    const requestHash = await sha256Hex(`${method} ${path}\n${await c.req.text()}`);
    const db = c.var.db;
    const [claimed] = await db
      .insert(idempotencyKeys)
      .values({ principal, key, method, path, requestHash, expiresAt: new Date(Date.now() + TTL_MS) })
      .onConflictDoNothing()
      .returning({ key: idempotencyKeys.key });
    if (!claimed) return replay(db, principal, key, requestHash);

    await next();
    const where = and(eq(idempotencyKeys.principal, principal), eq(idempotencyKeys.key, key));
    if (c.res.status >= 500) {
      await db.delete(idempotencyKeys).where(where);
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of REPLAYED_HEADERS) {
      const value = c.res.headers.get(name);
      if (value) headers[name] = value;
    }
    await db
      .update(idempotencyKeys)
      .set({ status: c.res.status, responseHeaders: headers, responseBody: redact(await c.res.clone().text(), options.redact ?? []) })
      .where(where);
  };
}

async function replay(db: Database, principal: string, key: string, requestHash: string): Promise<Response> {
  const [row] = await db
    .select()
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.principal, principal), eq(idempotencyKeys.key, key)))
    .limit(1);
  if (!row) throw new ApiError("idempotency-in-progress", "retry in a moment");
  if (row.requestHash !== requestHash) throw new ApiError("idempotency-key-reused");
  if (row.status === null) throw new ApiError("idempotency-in-progress", "the first request with this key has not finished", {}, { "retry-after": "1" });
  return new Response(row.responseBody, {
    status: row.status,
    headers: { ...row.responseHeaders, "idempotency-replayed": "true" },
  });
}

function redact(body: string, fields: string[]): string {
  if (fields.length === 0) return body;
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    for (const field of fields) delete parsed[field];
    return JSON.stringify(parsed);
  } catch {
    return body;
  }
}

/** Deletes expired records (run by the hourly cron). */
export async function purgeExpiredIdempotencyKeys(db: Database, now = new Date()): Promise<number> {
  const deleted = await db.delete(idempotencyKeys).where(lt(idempotencyKeys.expiresAt, now)).returning({ key: idempotencyKeys.key });
  return deleted.length;
}
