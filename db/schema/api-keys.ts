import { sql } from "drizzle-orm";
import { index, pgTable, text, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { id, tstz } from "./columns";
import { users } from "./users";

/** API keys for programmatic buyers. Only a SHA-256 of the secret is kept; `prefix` identifies a key in lists. */
export const apiKeys = pgTable(
  "api_keys",
  {
    id: id(),
    userId: uuid("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    prefix: text("prefix").notNull(),
    keyHash: text("key_hash").notNull(),
    /** e.g. search:read, images:read, licenses:read, downloads:create, uploads:write */
    scopes: text("scopes").array().notNull().default(sql`'{}'::text[]`),
    createdAt: tstz("created_at").notNull().defaultNow(),
    lastUsedAt: tstz("last_used_at"),
    expiresAt: tstz("expires_at"),
    revokedAt: tstz("revoked_at"),
  },
  (t) => [uniqueIndex("api_keys_hash_key").on(t.keyHash), index("api_keys_user_idx").on(t.userId, t.createdAt)],
);

export type ApiKey = typeof apiKeys.$inferSelect;
