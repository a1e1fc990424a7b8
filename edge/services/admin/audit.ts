import { and, desc, eq, lt } from "drizzle-orm";
import * as v from "valibot";
import type { Database } from "../../../db/connect";
import { auditLog } from "../../../db/schema";
import { base64url, fromBase64url } from "../../lib/crypto";
import { ApiError } from "../../lib/problem";
import * as s from "../../lib/schemas";

/** The audit log: who did what to which, appended by the services and read by admins. */
export type AuditEntry = {
  actorId: string | null;
  action: string;
  targetType?: string;
  targetId?: string;
  detail?: Record<string, unknown>;
  requestId?: string;
};

/** Appends to the audit log; pass the transaction when the action must commit together with it. */
export async function audit(db: Pick<Database, "insert">, entry: AuditEntry): Promise<void> {
  await db.insert(auditLog).values(entry);
}

/** The audit log is append-only with a bigserial id, so its id alone orders and pages it. */
const IdCursor = v.object({ id: v.pipe(v.number(), v.safeInteger(), v.minValue(1)) });

export function encodeAuditCursor(id: number): string {
  return base64url(new TextEncoder().encode(JSON.stringify({ id })));
}

export function decodeAuditCursor(cursor: string): number {
  try {
    return v.parse(IdCursor, JSON.parse(new TextDecoder().decode(fromBase64url(cursor)))).id;
  } catch {
    throw new ApiError("validation-failed", "cursor is not one this API returned", { errors: [{ path: "cursor", message: "invalid cursor" }] });
  }
}

/** `GET /v1/admin/audit-log`'s query (the console's audit page reads the same): a page, optionally one action, actor or target. */
export const AuditLogQuerySchema = v.strictObject({ ...s.pageQuery, action: v.optional(s.text(100)), actorId: v.optional(s.uuid), targetId: v.optional(s.text(200)) });

export type AuditFilter = { action?: string; actorId?: string; targetId?: string };

/** One entry as admins read it. */
export const AuditLogEntrySchema = v.object({
  id: v.number(),
  actorId: v.nullable(s.uuid),
  action: v.string(),
  targetType: v.nullable(v.string()),
  targetId: v.nullable(v.string()),
  detail: v.nullable(v.record(v.string(), v.unknown())),
  requestId: v.nullable(v.string()),
  createdAt: v.string(),
});
export type AuditLogEntry = v.InferOutput<typeof AuditLogEntrySchema>;

/** `GET /v1/admin/audit-log`: a page of entries. */
export const AuditLogPageSchema = s.pageOf(AuditLogEntrySchema);
export type AuditLogPage = v.InferOutput<typeof AuditLogPageSchema>;

/** Audit entries, newest first, optionally only one action, actor or target. */
export async function listAuditLog(db: Database, filter: AuditFilter, limit: number, beforeId: number | undefined): Promise<AuditLogPage> {
  const rows = await db
    .select()
    .from(auditLog)
    .where(
      and(
        filter.action ? eq(auditLog.action, filter.action) : undefined,
        filter.actorId ? eq(auditLog.actorId, filter.actorId) : undefined,
        filter.targetId ? eq(auditLog.targetId, filter.targetId) : undefined,
        beforeId !== undefined ? lt(auditLog.id, beforeId) : undefined,
      ),
    )
    .orderBy(desc(auditLog.id))
    .limit(limit + 1);
  const items = rows.slice(0, limit).map((row): AuditLogEntry => ({ ...row, createdAt: row.createdAt.toISOString() }));
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeAuditCursor(last.id) : null };
}
