import { and, eq, isNull, lt, or } from "drizzle-orm";
import * as v from "valibot";
import type { Database } from "../../../db/connect";
import { refreshTokens, type User, users } from "../../../db/schema";
import type { Config } from "../../config";
import { randomToken, sha256Hex } from "../../lib/crypto";
import { ApiError } from "../../lib/problem";
import { ACCESS_TOKEN_TTL_SECONDS, REFRESH_TOKEN_TTL_SECONDS, signAccessToken } from "../../lib/tokens";
import { audit } from "../admin/audit";
import { checkCredentials, type NewAccount, PublicUserSchema, publicUser, registerUser } from "./users";

export const TokenPairSchema = v.object({
  accessToken: v.string(),
  tokenType: v.literal("Bearer"),
  expiresIn: v.number(),
  refreshToken: v.string(),
  refreshExpiresAt: v.string(),
});
export type TokenPair = v.InferOutput<typeof TokenPairSchema>;

/** A user who just signed in (or registered), with the tokens of the new session. */
export const SignedInSchema = v.object({ user: PublicUserSchema, tokens: TokenPairSchema });
export type SignedIn = v.InferOutput<typeof SignedInSchema>;

type Client = { userAgent?: string; ip?: string; requestId?: string };

/** A refresh token as {@link issue} mints it: `esr_` and 32 random bytes in base64url (43 characters). */
export const RefreshTokenSchema = v.pipe(v.string(), v.regex(/^esr_[A-Za-z0-9_-]{43}$/, "not a refresh token"));

async function issue(db: Pick<Database, "insert">, config: Config, user: Pick<User, "id" | "role">, familyId: string, parentId: string | null, client: Client): Promise<TokenPair> {
  const refreshToken = `esr_${randomToken(32)}`;
  const expiresAt = new Date(Date.now() + REFRESH_TOKEN_TTL_SECONDS * 1000);
  await db.insert(refreshTokens).values({
    userId: user.id,
    familyId,
    parentId,
    tokenHash: await sha256Hex(refreshToken),
    expiresAt,
    userAgent: client.userAgent?.slice(0, 300),
    ip: client.ip,
  });
  const accessToken = await signAccessToken(config, { userId: user.id, role: user.role, sessionId: familyId });
  return { accessToken, tokenType: "Bearer", expiresIn: ACCESS_TOKEN_TTL_SECONDS, refreshToken, refreshExpiresAt: expiresAt.toISOString() };
}

/** Starts a new session (refresh-token family) for a user who just proved who they are. */
export function startSession(db: Database, config: Config, user: Pick<User, "id" | "role">, client: Client): Promise<TokenPair> {
  return issue(db, config, user, crypto.randomUUID(), null, client);
}

/** Creates an account (see {@link registerUser}) and starts its first session. */
export async function registerAndSignIn(db: Database, config: Config, input: NewAccount, client: Client): Promise<SignedIn> {
  const user = await registerUser(db, input, client.requestId);
  return { user: publicUser(user), tokens: await startSession(db, config, user, client) };
}

/** Checks email and password (see {@link checkCredentials}) and starts a session. */
export async function signIn(db: Database, config: Config, credentials: { email: string; password: string }, client: Client): Promise<SignedIn> {
  const user = await checkCredentials(db, credentials.email, credentials.password);
  return { user: publicUser(user), tokens: await startSession(db, config, user, client) };
}

/**
 * Rotates a refresh token: the presented token is marked used and a child in the same family
 * is issued, in one transaction with the row locked, so two concurrent refreshes cannot both
 * succeed. Presenting an already-used token is reuse (a stolen token, or a client bug): the
 * whole family is revoked and the caller must log in again.
 */
export async function rotateRefreshToken(db: Database, config: Config, token: string, client: Client): Promise<TokenPair> {
  const tokenHash = await sha256Hex(token);
  const outcome = await db.transaction(async (tx) => {
    const [row] = await tx
      .select({ token: refreshTokens, role: users.role, disabledAt: users.disabledAt })
      .from(refreshTokens)
      .innerJoin(users, eq(users.id, refreshTokens.userId))
      .where(eq(refreshTokens.tokenHash, tokenHash))
      .for("update", { of: refreshTokens })
      .limit(1);
    if (!row || row.token.revokedAt || row.disabledAt || row.token.expiresAt.getTime() <= Date.now()) {
      return { kind: "invalid" } as const;
    }
    if (row.token.usedAt) {
      await tx
        .update(refreshTokens)
        .set({ revokedAt: new Date(), revokedReason: "reuse_detected" })
        .where(and(eq(refreshTokens.familyId, row.token.familyId), isNull(refreshTokens.revokedAt)));
      await audit(tx, {
        actorId: row.token.userId,
        action: "auth.refresh_reuse",
        targetType: "session",
        targetId: row.token.familyId,
        detail: { ip: client.ip ?? null },
        requestId: client.requestId,
      });
      return { kind: "reused" } as const;
    }
    await tx.update(refreshTokens).set({ usedAt: new Date() }).where(eq(refreshTokens.id, row.token.id));
    const pair = await issue(tx, config, { id: row.token.userId, role: row.role }, row.token.familyId, row.token.id, client);
    return { kind: "rotated", pair } as const;
  });
  if (outcome.kind === "invalid") throw new ApiError("invalid-token", "unknown, expired or revoked refresh token");
  if (outcome.kind === "reused") throw new ApiError("refresh-token-reused");
  return outcome.pair;
}

/** Revokes the session the refresh token belongs to. Unknown tokens are ignored (logout is idempotent). */
export async function revokeSession(db: Database, token: string, userId: string): Promise<void> {
  const [row] = await db
    .select({ familyId: refreshTokens.familyId })
    .from(refreshTokens)
    .where(and(eq(refreshTokens.tokenHash, await sha256Hex(token)), eq(refreshTokens.userId, userId)))
    .limit(1);
  if (!row) return;
  await db
    .update(refreshTokens)
    .set({ revokedAt: new Date(), revokedReason: "logout" })
    .where(and(eq(refreshTokens.familyId, row.familyId), isNull(refreshTokens.revokedAt)));
}

/** Deletes refresh tokens that can no longer be used (run by the hourly cron). */
export async function purgeExpiredRefreshTokens(db: Database, now = new Date()): Promise<number> {
  const weekAgo = new Date(now.getTime() - 7 * 24 * 3600 * 1000);
  const deleted = await db
    .delete(refreshTokens)
    .where(or(lt(refreshTokens.expiresAt, now), lt(refreshTokens.revokedAt, weekAgo)))
    .returning({ id: refreshTokens.id });
  return deleted.length;
}
