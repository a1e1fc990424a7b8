import { and, eq, lt } from "drizzle-orm";
import type { Database } from "../../../db/connect";
import { idempotencyKeys } from "../../../db/schema";

/** A stored request is answered again for this long. */
export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;

/** Whose key it is: keys are per caller, so two callers may use the same key. */
export type IdempotencyScope = { principal: string; key: string };

export type StoredResponse = { status: number; headers: Record<string, string>; body: string };

const scoped = ({ principal, key }: IdempotencyScope) => and(eq(idempotencyKeys.principal, principal), eq(idempotencyKeys.key, key));

/** Claims a key for a request; false when the caller has used it already (then see {@link findIdempotencyRecord}). */
export async function claimIdempotencyKey(
  db: Database,
  scope: IdempotencyScope,
  request: { method: string; path: string; requestHash: string },
  now = new Date(),
): Promise<boolean> {
  const [claimed] = await db
    .insert(idempotencyKeys)
    .values({ ...scope, ...request, expiresAt: new Date(now.getTime() + IDEMPOTENCY_TTL_MS) })
    .onConflictDoNothing()
    .returning({ key: idempotencyKeys.key });
  return claimed !== undefined;
}

/** The record of a claimed key: the request's hash, and its response once stored (status null until then). */
export async function findIdempotencyRecord(db: Database, scope: IdempotencyScope) {
  const [row] = await db
    .select({ requestHash: idempotencyKeys.requestHash, status: idempotencyKeys.status, headers: idempotencyKeys.responseHeaders, body: idempotencyKeys.responseBody })
    .from(idempotencyKeys)
    .where(scoped(scope))
    .limit(1);
  return row ?? null;
}

/** Stores the response a retry with this key gets. */
export async function storeIdempotentResponse(db: Database, scope: IdempotencyScope, response: StoredResponse): Promise<void> {
  await db.update(idempotencyKeys).set({ status: response.status, responseHeaders: response.headers, responseBody: response.body }).where(scoped(scope));
}

/** Frees a key whose request failed on our side, so a retry runs again. */
export async function releaseIdempotencyKey(db: Database, scope: IdempotencyScope): Promise<void> {
  await db.delete(idempotencyKeys).where(scoped(scope));
}

/** Deletes expired records (run by the hourly cron). */
export async function purgeExpiredIdempotencyKeys(db: Database, now = new Date()): Promise<number> {
  const deleted = await db.delete(idempotencyKeys).where(lt(idempotencyKeys.expiresAt, now)).returning({ key: idempotencyKeys.key });
  return deleted.length;
}
