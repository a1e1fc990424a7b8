import { and, eq, sql } from "drizzle-orm";
import { type JobMessage, jobPolicy, parseJobMessage } from "../../../common/jobs";
import { log } from "../../../common/log";
import type { Database } from "../../../db/connect";
import { images, jobs } from "../../../db/schema";

/**
 * A job that failed every attempt arrives on the dead-letter queue: record it as dead and do what
 * the job's policy says (common/jobs.ts onFinalFailure): image processing marks the image
 * `processing_failed` so the contributor sees why; a reprocess leaves the image as it is. Messages
 * that do not parse are acknowledged and logged (retrying them cannot help).
 */
export async function recordDeadLetter(db: Database, body: unknown, reason: string): Promise<JobMessage | null> {
  let message: JobMessage;
  try {
    message = parseJobMessage(body);
  } catch (error) {
    log.error("unparseable dead letter", { error: String(error) });
    return null;
  }
  const { imageId } = message.payload;
  const [image] = await db.select({ id: images.id }).from(images).where(eq(images.id, imageId));
  if (!image) {
    // Withdrawn before it was processed (an abandoned upload): nothing left to mark.
    log.warn("dead letter for an image that no longer exists", { imageId, type: message.type });
    return message;
  }
  await db.transaction(async (tx) => {
    const [job] = await tx
      .insert(jobs)
      .values({ imageId, jobType: message.type, status: "dead", lastError: reason, finishedAt: new Date() })
      .onConflictDoUpdate({
        target: [jobs.imageId, jobs.jobType],
        // Keep the worker's own last error: it says why, the queue only says how often.
        set: { status: "dead", lastError: sql`coalesce(${jobs.lastError}, ${reason})`, finishedAt: new Date(), updatedAt: sql`now()` },
      })
      .returning({ lastError: jobs.lastError });
    if (jobPolicy(message.type).onFinalFailure === "mark-image-failed") {
      await tx
        .update(images)
        .set({ status: "processing_failed", stage: "failed", statusReason: job?.lastError ?? reason, updatedAt: new Date() })
        .where(and(eq(images.id, imageId), eq(images.status, "processing")));
    }
  });
  return message;
}
