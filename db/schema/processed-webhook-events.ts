import { pgTable, primaryKey, text } from "drizzle-orm/pg-core";
import { tstz } from "./columns";

/**
 * Webhook deliveries already handled. Inserting the (provider, event_id) row first makes a
 * redelivered event a no-op instead of a second side effect.
 */
export const processedWebhookEvents = pgTable(
  "processed_webhook_events",
  {
    /** e.g. stripe */
    provider: text("provider").notNull(),
    eventId: text("event_id").notNull(),
    eventType: text("event_type").notNull(),
    receivedAt: tstz("received_at").notNull().defaultNow(),
    /** Null while the handler runs or after it failed, so a retry can tell the difference. */
    processedAt: tstz("processed_at"),
  },
  (t) => [primaryKey({ columns: [t.provider, t.eventId] })],
);

export type ProcessedWebhookEvent = typeof processedWebhookEvents.$inferSelect;
