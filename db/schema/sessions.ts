import { index, pgTable, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { id, tstz } from "./columns";
import { users } from "./users";

/**
 * Refresh tokens. Each login starts a family; each refresh marks the presented token used and
 * issues a child in the same family. Presenting a used token again is reuse: the whole family
 * is revoked (the thief and the victim both have to log in again).
 */
export const refreshTokens = pgTable(
  "refresh_tokens",
  {
    id: id(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    familyId: uuid("family_id").notNull(),
    parentId: uuid("parent_id"),
    /** SHA-256 of the opaque token; the token itself is never stored. */
    tokenHash: text("token_hash").notNull(),
    createdAt: tstz("created_at").notNull().defaultNow(),
    expiresAt: tstz("expires_at").notNull(),
    usedAt: tstz("used_at"),
    revokedAt: tstz("revoked_at"),
    /** logout | reuse_detected | password_change | admin */
    revokedReason: text("revoked_reason"),
    userAgent: text("user_agent"),
    ip: text("ip"),
  },
  (t) => [uniqueIndex("refresh_tokens_hash_key").on(t.tokenHash), index("refresh_tokens_family_idx").on(t.familyId), index("refresh_tokens_user_idx").on(t.userId)],
);

export type RefreshToken = typeof refreshTokens.$inferSelect;

/**
 * Web sessions: the browser's sign-in, held in an HttpOnly cookie (edge/web/session.ts). The cookie
 * carries an opaque token; only its SHA-256 is stored. Every request checks the row and the account
 * as they are now (revoked, expired, disabled, current role). The CSRF secret is bound to the session.
 */
export const webSessions = pgTable(
  "web_sessions",
  {
    id: id(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** SHA-256 of the cookie's token; the token itself is never stored. */
    tokenHash: text("token_hash").notNull(),
    createdAt: tstz("created_at").notNull().defaultNow(),
    expiresAt: tstz("expires_at").notNull(),
    revokedAt: tstz("revoked_at"),
    userAgent: text("user_agent"),
    ip: text("ip"),
  },
  (t) => [uniqueIndex("web_sessions_hash_key").on(t.tokenHash), index("web_sessions_user_idx").on(t.userId)],
);

export type WebSession = typeof webSessions.$inferSelect;
