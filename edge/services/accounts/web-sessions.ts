import { and, eq, gt, isNull, lt, or } from "drizzle-orm";
import type { Database } from "../../../db/connect";
import { type User, users, webSessions } from "../../../db/schema";
import { randomToken, sha256Hex } from "../../lib/crypto";
import type { Principal } from "../../lib/principal";
import { checkCredentials, type NewAccount, registerUser } from "./users";

/** How long a browser stays signed in without signing in again. */
export const WEB_SESSION_TTL_SECONDS = 30 * 24 * 3600;

type Client = { userAgent?: string; ip?: string; requestId?: string };

/** A web session token as {@link startWebSession} mints it: `ess_` and 32 random bytes in base64url. */
const WEB_SESSION_TOKEN = /^ess_[A-Za-z0-9_-]{43}$/;

/** Starts a browser session for a user who just proved who they are; returns the cookie's token. */
export async function startWebSession(db: Database, user: Pick<User, "id">, client: Client): Promise<{ token: string; expiresAt: Date }> {
  const token = `ess_${randomToken(32)}`;
  const expiresAt = new Date(Date.now() + WEB_SESSION_TTL_SECONDS * 1000);
  await db.insert(webSessions).values({ userId: user.id, tokenHash: await sha256Hex(token), expiresAt, userAgent: client.userAgent?.slice(0, 300), ip: client.ip });
  return { token, expiresAt };
}

/** Signs a browser in with email and password (the same check as `POST /v1/auth/login`). */
export async function signInWeb(db: Database, credentials: { email: string; password: string }, client: Client) {
  const user = await checkCredentials(db, credentials.email, credentials.password);
  return { user, session: await startWebSession(db, user, client) };
}

/** Creates an account (the same rules as `POST /v1/auth/register`) and signs the browser in. */
export async function registerWeb(db: Database, input: NewAccount, client: Client) {
  const user = await registerUser(db, input, client.requestId);
  return { user, session: await startWebSession(db, user, client) };
}

/**
 * The caller behind a session cookie, as things are now: a revoked or expired session, or a
 * disabled account, is nobody (null), and the role is the account's current one.
 */
export async function webSessionPrincipal(db: Database, token: string): Promise<Principal | null> {
  if (!WEB_SESSION_TOKEN.test(token)) return null;
  const [row] = await db
    .select({ id: webSessions.id, userId: webSessions.userId, role: users.role })
    .from(webSessions)
    .innerJoin(users, eq(users.id, webSessions.userId))
    .where(and(eq(webSessions.tokenHash, await sha256Hex(token)), isNull(webSessions.revokedAt), gt(webSessions.expiresAt, new Date()), isNull(users.disabledAt)))
    .limit(1);
  return row ? { kind: "user", userId: row.userId, role: row.role, sessionId: row.id } : null;
}

/** Signs a browser out: its session can no longer be used, whoever holds the cookie. */
export async function endWebSession(db: Database, token: string): Promise<void> {
  if (!WEB_SESSION_TOKEN.test(token)) return;
  await db
    .update(webSessions)
    .set({ revokedAt: new Date() })
    .where(and(eq(webSessions.tokenHash, await sha256Hex(token)), isNull(webSessions.revokedAt)));
}

/** Deletes sessions that expired, or were revoked over a week ago (the hourly maintenance). */
export async function purgeExpiredWebSessions(db: Database, now = new Date()): Promise<number> {
  const weekAgo = new Date(now.getTime() - 7 * 24 * 3600 * 1000);
  const deleted = await db
    .delete(webSessions)
    .where(or(lt(webSessions.expiresAt, now), lt(webSessions.revokedAt, weekAgo)))
    .returning({ id: webSessions.id });
  return deleted.length;
}
