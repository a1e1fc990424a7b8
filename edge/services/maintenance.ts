import type { Database } from "../../db/connect";
import { purgeExpiredIdempotencyKeys } from "../middleware/idempotency";
import { purgeExpiredRefreshTokens } from "./sessions";

/** The hourly cron: delete what can no longer be used. Safe to run twice. */
export async function runMaintenance(db: Database, now = new Date()) {
  return {
    refreshTokensPurged: await purgeExpiredRefreshTokens(db, now),
    idempotencyKeysPurged: await purgeExpiredIdempotencyKeys(db, now),
  };
}
