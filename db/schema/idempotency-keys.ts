import { integer, jsonb, pgTable, primaryKey, text } from "drizzle-orm/pg-core";
import { tstz } from "./columns";

/**
 * Idempotency-Key records for POSTs that create something. The row is inserted before the
 * handler runs (status null = in flight) so a concurrent duplicate is refused rather than run twice;
 * once the handler finishes, its response is stored and replayed for the same key.
 */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    /** user id, api key id, or `ip:<addr>` for anonymous callers */
    principal: text("principal").notNull(),
    key: text("key").notNull(),
    method: text("method").notNull(),
    path: text("path").notNull(),
    /** SHA-256 of the request body: the same key with a different body is a 422. */
    requestHash: text("request_hash").notNull(),
    status: integer("status"),
    responseHeaders: jsonb("response_headers").$type<Record<string, string>>(),
    responseBody: text("response_body"),
    createdAt: tstz("created_at").notNull().defaultNow(),
    expiresAt: tstz("expires_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.principal, t.key] })],
);
