import { bigserial, index, jsonb, pgTable, text, uuid } from "drizzle-orm/pg-core";
import { tstz } from "./columns";
import { users } from "./users";

/** Append-only record of security-relevant and admin actions. */
export const auditLog = pgTable(
  "audit_log",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    actorId: uuid("actor_id").references(() => users.id, { onDelete: "set null" }),
    /** e.g. auth.register, auth.refresh_reuse, api_key.create, moderation.approve */
    action: text("action").notNull(),
    targetType: text("target_type"),
    targetId: text("target_id"),
    detail: jsonb("detail").$type<Record<string, unknown>>(),
    requestId: text("request_id"),
    createdAt: tstz("created_at").notNull().defaultNow(),
  },
  (t) => [index("audit_log_actor_idx").on(t.actorId, t.createdAt), index("audit_log_target_idx").on(t.targetType, t.targetId)],
);
