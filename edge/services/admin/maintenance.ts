import { and, eq, lt, or, sql } from "drizzle-orm";
import { jobMessage } from "../../../common/jobs";
import { log } from "../../../common/log";
import type { Database } from "../../../db/connect";
import { images, jobs } from "../../../db/schema";
import { tuneVectorSearch } from "../../../db/vector-search";
import { publicUrls } from "../../adapters/public-urls";
import type { Config } from "../../config";
import { purgeExpiredIdempotencyKeys } from "../accounts/idempotency-keys";
import { purgeExpiredRefreshTokens } from "../accounts/sessions";
import { purgeExpiredWebSessions } from "../accounts/web-sessions";
import { reconcileRecentRenditions } from "../catalogue/renditions";
import { purgeOldSearchers } from "../catalogue/search-queries";
import { matureEarnings } from "../commerce/payouts";
import { refundRefusedItems } from "../commerce/settlement";

/** A job queued (or running) this long without progress has lost its message; send it again. */
export const STALE_JOB_MS = 30 * 60 * 1000;

/**
 * Re-sends processing jobs whose queue message was lost: enqueued but never sent (the send
 * failed after the commit), or abandoned. A duplicate message is harmless (the worker skips
 * finished jobs); a missing one would leave an image in `processing` for ever.
 */
export async function resendStaleJobs(db: Database, queue: Queue, now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - STALE_JOB_MS);
  const stale = await db
    .update(jobs)
    .set({ updatedAt: now })
    .from(images)
    .where(
      and(
        eq(jobs.imageId, images.id),
        eq(jobs.jobType, "image.process"),
        or(eq(jobs.status, "queued"), eq(jobs.status, "running"), eq(jobs.status, "failed")),
        lt(jobs.updatedAt, cutoff),
        sql`${images.stage} in ('queued', 'processing')`,
      ),
    )
    .returning({ imageId: jobs.imageId });
  // sendBatch takes at most 100 messages.
  for (let i = 0; i < stale.length; i += 100) {
    await queue.sendBatch(stale.slice(i, i + 100).map(({ imageId }) => ({ body: jobMessage("image.process", { imageId }), contentType: "json" as const })));
  }
  return stale.length;
}

/**
 * The hourly cron: delete what can no longer be used, re-send lost jobs, release held earnings, make
 * refunds still due, put the public renditions of recently changed images right. Safe to run twice.
 */
export async function runMaintenance(db: Database, env: Pick<Env, "JOBS" | "ORIGINALS" | "DERIVATIVES">, config: Config, now = new Date()) {
  return {
    refreshTokensPurged: await purgeExpiredRefreshTokens(db, now),
    webSessionsPurged: await purgeExpiredWebSessions(db, now),
    idempotencyKeysPurged: await purgeExpiredIdempotencyKeys(db, now),
    searchersForgotten: await purgeOldSearchers(db, now),
    jobsResent: await resendStaleJobs(db, env.JOBS, now),
    earningsMatured: await matureEarnings(db, now),
    refundsMade: await refundRefusedItems({ db, config }),
    // No request context on a cron run: the public URLs and the logger are built here.
    // ALTER DATABASE needs the database's owner: without that right the setting stays, and the rest goes on.
    vectorSearch: await tuneVectorSearch(db).catch((error: Error) => {
      log.error("maintenance: could not set hnsw.ef_search for the catalogue's size", { error: error.message });
      return null;
    }),
    renditions: await reconcileRecentRenditions({ db, env, config, urls: publicUrls(config), log }, now),
  };
}
