import { and, eq, isNull } from "drizzle-orm";
import type { Context } from "hono";
import { apiKeys, users } from "../../../db/schema";
import type { AppEnv } from "../../env";
import { sha256Hex } from "../../lib/crypto";
import type { Principal } from "../../lib/principal";
import { ApiError } from "../../lib/problem";
import { verifyAccessToken } from "../../lib/tokens";

export const API_KEY_HEADER = "x-api-key";

const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Resolves the caller from `Authorization: Bearer <access token>` or `X-Api-Key: <key>` and
 * stores it in `c.var.principal`. A bad credential is always a 401, even on public routes, so a
 * client never silently runs as anonymous. Access tokens are checked without the database on
 * reads and against the account on writes; API keys cost one indexed lookup (disabled owners refused).
 */
export async function authenticate(c: Context<AppEnv>, required: boolean): Promise<Principal | null> {
  const authorization = c.req.header("authorization");
  const apiKey = c.req.header(API_KEY_HEADER);
  let principal: Principal | null = null;
  if (authorization) {
    const match = /^Bearer\s+([A-Za-z0-9_.-]{1,4096})$/.exec(authorization);
    if (!match?.[1]) throw new ApiError("invalid-token", "expected Authorization: Bearer <access token>");
    const claims = await verifyAccessToken(c.var.config, match[1]);
    principal = { kind: "user", userId: claims.userId, role: claims.role, sessionId: claims.sessionId };
    // Reads trust the 15-minute token; a write checks the account as it is now, so a disabled or
    // deleted user (or a changed role) takes effect on every write at once.
    if (!READ_METHODS.has(c.req.method)) {
      const [account] = await c.var.db.select({ role: users.role, disabledAt: users.disabledAt }).from(users).where(eq(users.id, claims.userId));
      if (!account || account.disabledAt) throw new ApiError("invalid-token", "this account is disabled or no longer exists");
      principal.role = account.role;
    }
  } else if (apiKey) {
    principal = await authenticateApiKey(c, apiKey);
  } else if (required) {
    throw new ApiError("unauthenticated", "send an access token (Authorization: Bearer) or an API key (X-Api-Key)");
  }
  c.set("principal", principal);
  return principal;
}

async function authenticateApiKey(c: Context<AppEnv>, key: string): Promise<Principal> {
  if (!/^esk_[A-Za-z0-9_-]{20,100}$/.test(key)) throw new ApiError("invalid-token", "malformed API key");
  const [row] = await c.var.db
    .select({ id: apiKeys.id, userId: apiKeys.userId, scopes: apiKeys.scopes, expiresAt: apiKeys.expiresAt, role: users.role })
    .from(apiKeys)
    .innerJoin(users, eq(users.id, apiKeys.userId))
    .where(and(eq(apiKeys.keyHash, await sha256Hex(key)), isNull(apiKeys.revokedAt), isNull(users.disabledAt)))
    .limit(1);
  if (!row || (row.expiresAt && row.expiresAt.getTime() <= Date.now())) throw new ApiError("invalid-token", "unknown, revoked or expired API key");
  await c.var.db.update(apiKeys).set({ lastUsedAt: new Date() }).where(eq(apiKeys.id, row.id));
  return { kind: "api_key", userId: row.userId, role: row.role, apiKeyId: row.id, scopes: row.scopes };
}
