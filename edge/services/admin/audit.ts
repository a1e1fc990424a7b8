import type { Database } from "../../db/connect";
import { auditLog } from "../../db/schema";

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
