import { jsonb, pgTable, text } from "drizzle-orm/pg-core";
import { tstz } from "./columns";

/** Liveness of GPU workers: each upserts its row every few seconds; the health check reads `last_seen_at`. */
export const workerHeartbeats = pgTable("worker_heartbeats", {
  workerId: text("worker_id").primaryKey(),
  hostname: text("hostname"),
  version: text("version"),
  /** e.g. { gpu: "H200", models: ["clip-vit-b32"], jobTypes: ["embed", "tag"] } */
  capabilities: jsonb("capabilities").$type<Record<string, unknown>>(),
  startedAt: tstz("started_at").notNull().defaultNow(),
  lastSeenAt: tstz("last_seen_at").notNull().defaultNow(),
});

export type WorkerHeartbeat = typeof workerHeartbeats.$inferSelect;
