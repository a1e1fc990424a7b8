import { and, eq, isNull } from "drizzle-orm";
import * as v from "valibot";
import type { Database } from "../../../db/connect";
import { type ApiKey, apiKeys } from "../../../db/schema";
import { randomToken, sha256Hex } from "../../lib/crypto";
import { afterCursor, type CursorPosition, newestFirst, page } from "../../lib/pagination";
import { API_KEY_SCOPES } from "../../lib/principal";
import { ApiError } from "../../lib/problem";
import * as s from "../../lib/schemas";
import { audit } from "../admin/audit";

export const MAX_ACTIVE_KEYS_PER_USER = 20;

export const ApiKeySchema = v.object({
  id: s.uuid,
  name: v.string(),
  prefix: v.string(),
  scopes: v.array(v.string()),
  createdAt: v.string(),
  lastUsedAt: v.nullable(v.string()),
  expiresAt: v.nullable(v.string()),
  revokedAt: v.nullable(v.string()),
});
export type ApiKeyView = v.InferOutput<typeof ApiKeySchema>;

/** What a new key is asked for with: a name, its scopes, and optionally when it expires. */
export const ApiKeyRequestSchema = v.strictObject({
  name: s.text(80),
  scopes: v.pipe(v.array(v.picklist(API_KEY_SCOPES)), v.minLength(1, "name at least one scope"), v.maxLength(API_KEY_SCOPES.length)),
  expiresAt: v.optional(
    v.pipe(
      v.string(),
      v.isoTimestamp("must be an ISO 8601 timestamp"),
      v.check(s.instantInRange, "must be before 3000"),
      v.transform((t) => new Date(t)),
      v.check((d) => d.getTime() > Date.now(), "must be in the future"),
    ),
  ),
});
export type ApiKeyRequest = v.InferOutput<typeof ApiKeyRequestSchema>;

/** A new key with its secret, which no later response shows. */
export const NewApiKeySchema = v.object({ apiKey: ApiKeySchema, secret: v.string() });
export type NewApiKey = v.InferOutput<typeof NewApiKeySchema>;

export const ApiKeyPageSchema = s.pageOf(ApiKeySchema);
export type ApiKeyPage = v.InferOutput<typeof ApiKeyPageSchema>;

export const RevokedApiKeySchema = v.object({ apiKey: ApiKeySchema });
export type RevokedApiKey = v.InferOutput<typeof RevokedApiKeySchema>;

/** What the API shows of a key: never its hash. */
function publicApiKey(key: ApiKey): ApiKeyView {
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
export async function createApiKey(db: Database, userId: string, input: ApiKeyRequest, requestId?: string): Promise<NewApiKey> {
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
    return { apiKey: publicApiKey(key), secret };
  });
}

/** The user's keys, newest first, a page at a time. */
export async function listApiKeys(db: Database, userId: string, limit: number, after?: CursorPosition): Promise<ApiKeyPage> {
  const rows = await db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.userId, userId), afterCursor(apiKeys.createdAt, apiKeys.id, after)))
    .orderBy(...newestFirst(apiKeys.createdAt, apiKeys.id))
    .limit(limit + 1);
  const { items, nextCursor } = page(rows, limit);
  return { items: items.map(publicApiKey), nextCursor };
}

/** Revokes one of the caller's keys; revoking twice is fine, someone else's key is a 404. */
export async function revokeApiKey(db: Database, userId: string, id: string, requestId?: string): Promise<RevokedApiKey> {
  return db.transaction(async (tx) => {
    const [key] = await tx
      .update(apiKeys)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiKeys.id, id), eq(apiKeys.userId, userId), isNull(apiKeys.revokedAt)))
      .returning();
    if (key) {
      await audit(tx, { actorId: userId, action: "api_key.revoke", targetType: "api_key", targetId: id, requestId });
      return { apiKey: publicApiKey(key) };
    }
    const [existing] = await tx
      .select()
      .from(apiKeys)
      .where(and(eq(apiKeys.id, id), eq(apiKeys.userId, userId)))
      .limit(1);
    if (!existing) throw new ApiError("not-found", "no API key with this id");
    return { apiKey: publicApiKey(existing) };
  });
}
