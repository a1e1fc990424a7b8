import { hostname } from "node:os";
import { sql } from "drizzle-orm";
import type { Database } from "../db/connect";
import { workerHeartbeats } from "../db/schema";

export const WORKER_VERSION = "0.1.0";

/** Upserts this worker's liveness row; GET /v1/health reports the worker down when it goes stale. */
export async function beat(db: Database, workerId: string, capabilities: Record<string, unknown>): Promise<void> {
  await db
    .insert(workerHeartbeats)
    .values({ workerId, hostname: hostname(), version: WORKER_VERSION, capabilities })
    .onConflictDoUpdate({ target: workerHeartbeats.workerId, set: { lastSeenAt: sql`now()`, capabilities, version: WORKER_VERSION } });
}
