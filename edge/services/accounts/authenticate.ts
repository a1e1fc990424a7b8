import { and, eq, isNull } from "drizzle-orm";
import type { Database } from "../../../db/connect";
import { apiKeys, users } from "../../../db/schema";
import type { Config } from "../../config";
import { sha256Hex } from "../../lib/crypto";
import type { Principal } from "../../lib/principal";
import { ApiError } from "../../lib/problem";
import { verifyAccessToken } from "../../lib/tokens";
import { webSessionPrincipal } from "./web-sessions";

export const API_KEY_HEADER = "x-api-key";

const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** The parts of a request that say who is calling. */
export type Credentials = {
  /** The Authorization header, if any. */
  authorization?: string;
  /** The X-Api-Key header, if any. */
  apiKey?: string;
  /** The request method: writes check the account, reads trust the token. */
  method: string;
  /**
   * The web app's session cookie, if any, and whether the request proved it comes from our own
   * pages (a valid CSRF token): a write with a session cookie needs that proof.
   */
  webSession?: { token: string; csrfVerified: () => Promise<boolean> };
};

/**
 * Resolves the caller from `Authorization: Bearer <access token>`, `X-Api-Key: <key>` or, for the
 * web app, its session cookie. A bad
 * credential is always a 401, even on public routes, so a client never silently runs as
 * anonymous. Access tokens are checked without the database on reads and against the account on
 * writes; API keys cost one indexed lookup (disabled owners refused).
 */
export async function authenticate(deps: { db: Database; config: Config }, credentials: Credentials, required: boolean): Promise<Principal | null> {
  const { authorization, apiKey } = credentials;
  if (authorization) {
    const match = /^Bearer\s+([A-Za-z0-9_.-]{1,4096})$/.exec(authorization);
    if (!match?.[1]) throw new ApiError("invalid-token", "expected Authorization: Bearer <access token>");
    const claims = await verifyAccessToken(deps.config, match[1]);
    const principal: Principal = { kind: "user", userId: claims.userId, role: claims.role, sessionId: claims.sessionId };
    // Reads trust the 15-minute token; a write checks the account as it is now, so a disabled or
    // deleted user (or a changed role) takes effect on every write at once.
    if (!READ_METHODS.has(credentials.method)) {
      const [account] = await deps.db.select({ role: users.role, disabledAt: users.disabledAt }).from(users).where(eq(users.id, claims.userId));
      if (!account || account.disabledAt) throw new ApiError("invalid-token", "this account is disabled or no longer exists");
      principal.role = account.role;
    }
    return principal;
  }
  if (apiKey) return authenticateApiKey(deps.db, apiKey);
  if (credentials.webSession) {
    // A stale cookie (signed out elsewhere, expired, account disabled) is anonymous, not an error:
    // browsers keep sending it, and public pages must still answer.
    const principal = await webSessionPrincipal(deps.db, credentials.webSession.token);
    if (principal) {
      if (!READ_METHODS.has(credentials.method) && !(await credentials.webSession.csrfVerified())) {
        throw new ApiError("csrf-token-invalid", "a request signed in by cookie must carry the page's CSRF token (X-CSRF-Token)");
      }
      return principal;
    }
  }
  if (required) throw new ApiError("unauthenticated", "send an access token (Authorization: Bearer) or an API key (X-Api-Key)");
  return null;
}

async function authenticateApiKey(db: Database, key: string): Promise<Principal> {
  if (!/^esk_[A-Za-z0-9_-]{20,100}$/.test(key)) throw new ApiError("invalid-token", "malformed API key");
  const [row] = await db
    .select({ id: apiKeys.id, userId: apiKeys.userId, scopes: apiKeys.scopes, expiresAt: apiKeys.expiresAt, role: users.role })
    .from(apiKeys)
    .innerJoin(users, eq(users.id, apiKeys.userId))
    .where(and(eq(apiKeys.keyHash, await sha256Hex(key)), isNull(apiKeys.revokedAt), isNull(users.disabledAt)))
    .limit(1);
  if (!row || (row.expiresAt && row.expiresAt.getTime() <= Date.now())) throw new ApiError("invalid-token", "unknown, revoked or expired API key");
  await db.update(apiKeys).set({ lastUsedAt: new Date() }).where(eq(apiKeys.id, row.id));
  return { kind: "api_key", userId: row.userId, role: row.role, apiKeyId: row.id, scopes: row.scopes };
}
