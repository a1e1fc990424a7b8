import { and, eq, isNull } from "drizzle-orm";
import type { Database } from "../../../db/connect";
import { type ApiKey, apiKeys } from "../../../db/schema";
import { randomToken, sha256Hex } from "../../lib/crypto";
import { afterCursor, type CursorPosition, newestFirst, page } from "../../lib/pagination";
import { ApiError } from "../../lib/problem";
import { audit } from "../admin/audit";

export const MAX_ACTIVE_KEYS_PER_USER = 20;

export function publicApiKey(key: ApiKey) {
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    scopes: key.scopes,
    createdAt: key.createdAt.toISOString(),
    lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
    expiresAt: key.expiresAt?.toISOString() ?? null,
    revokedAt: key.revokedAt?.toISOString() ?? null,
  };
}

/**
 * Creates an API key: `esk_<random>`, shown once. Only its SHA-256 is stored (the key has 256
 * bits of entropy, so a fast hash is enough; a slow one would cost every API call).
 */
export async function createApiKey(
  db: Database,
  userId: string,
  input: { name: string; scopes: string[]; expiresAt?: Date },
  requestId?: string,
) {
  const secret = `esk_${randomToken(32)}`;
  return db.transaction(async (tx) => {
    const active = await tx
      .select({ id: apiKeys.id })
      .from(apiKeys)
      .where(and(eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
      .for("update");
    if (active.length >= MAX_ACTIVE_KEYS_PER_USER) {
      throw new ApiError("conflict", `at most ${MAX_ACTIVE_KEYS_PER_USER} active API keys; revoke one first`);
    }
    const [key] = await tx
      .insert(apiKeys)
      .values({
        userId,
        name: input.name,
        prefix: secret.slice(0, 12),
        keyHash: await sha256Hex(secret),
        scopes: [...new Set(input.scopes)].sort(),
        expiresAt: input.expiresAt,
      })
      .returning();
    if (!key) throw new Error("insert returned no row");
    await audit(tx, { actorId: userId, action: "api_key.create", targetType: "api_key", targetId: key.id, requestId });
    return { key, secret };
  });
}

export async function listApiKeys(db: Database, userId: string, limit: number, after?: CursorPosition) {
  const rows = await db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.userId, userId), afterCursor(apiKeys.createdAt, apiKeys.id, after)))
    .orderBy(...newestFirst(apiKeys.createdAt, apiKeys.id))
    .limit(limit + 1);
  return page(rows, limit);
}

/** Revokes one of the caller's keys; revoking twice is fine, someone else's key is a 404. */
export async function revokeApiKey(db: Database, userId: string, id: string, requestId?: string): Promise<ApiKey> {
  return db.transaction(async (tx) => {
    const [key] = await tx
      .update(apiKeys)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiKeys.id, id), eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
      .returning();
    if (key) {
      await audit(tx, { actorId: userId, action: "api_key.revoke", targetType: "api_key", targetId: id, requestId });
      return key;
    }
    const [existing] = await tx.select().from(apiKeys).where(and(eq(apiKeys.id, id), eq(apiKeys.userId, userId))).limit(1);
    if (!existing) throw new ApiError("not-found", "no API key with this id");
    return existing;
  });
}
