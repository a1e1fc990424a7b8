import type { MiddlewareHandler } from "hono";
import type { Database } from "../../db/connect";
import type { AppEnv } from "../env";
import { sha256Hex } from "../lib/crypto";
import { ApiError } from "../lib/problem";
import { claimIdempotencyKey, findIdempotencyRecord, type IdempotencyScope, releaseIdempotencyKey, storeIdempotentResponse } from "../services/accounts/idempotency-keys";
import { clientIp } from "./rate-limit";

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
    const scope = { principal: c.var.principal ? `user:${c.var.principal.userId}` : `ip:${clientIp(c)}`, key };
    const method = c.req.method;
    const path = new URL(c.req.url).pathname;
    const requestHash = await sha256Hex(`${method} ${path}\n${await c.req.text()}`);
    const db = c.var.db;
    if (!(await claimIdempotencyKey(db, scope, { method, path, requestHash }))) return replay(db, scope, requestHash);

    await next();
    if (c.res.status >= 500) {
      await releaseIdempotencyKey(db, scope);
      return;
    }
    const headers: Record<string, string> = {};
    for (const name of REPLAYED_HEADERS) {
      const value = c.res.headers.get(name);
      if (value) headers[name] = value;
    }
    await storeIdempotentResponse(db, scope, { status: c.res.status, headers, body: redact(await c.res.clone().text(), options.redact ?? []) });
  };
}

async function replay(db: Database, scope: IdempotencyScope, requestHash: string): Promise<Response> {
  const row = await findIdempotencyRecord(db, scope);
  if (!row) throw new ApiError("idempotency-in-progress", "retry in a moment");
  if (row.requestHash !== requestHash) throw new ApiError("idempotency-key-reused");
  if (row.status === null) throw new ApiError("idempotency-in-progress", "the first request with this key has not finished", {}, { "retry-after": "1" });
  return new Response(row.body, {
    status: row.status,
    headers: { ...row.headers, "idempotency-replayed": "true" },
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
