import { and, asc, eq, gt, inArray } from "drizzle-orm";
import { jobMessage, type ReprocessStep } from "../../../common/jobs";
import type { Database } from "../../../db/connect";
import { images } from "../../../db/schema";

/** Queues' sendBatch takes at most 100 messages. */
export const SEND_BATCH_LIMIT = 100;

/** Which images to reprocess: these ids, or every processed image of the catalogue. */
export type ReprocessSelection = { imageIds: readonly string[] } | { all: true };

/**
 * Enqueues `image.reprocess` for the selected images (only processed ones: stage done; the
 * worker re-runs `steps` from each stored original, gpu-worker/jobs/image-reprocess.ts). The whole
 * catalogue is walked by id, a page of {@link SEND_BATCH_LIMIT} at a time, so no page is held
 * in memory beyond one send. Returns how many messages were sent. Sending twice is harmless: the
 * job is idempotent.
 *
 * @example await enqueueReprocess({ db, queue: env.JOBS }, { all: true }, ["embedding", "tags"])
 */
export async function enqueueReprocess(deps: { db: Database; queue: Queue }, selection: ReprocessSelection, steps: readonly ReprocessStep[]): Promise<number> {
  const { db, queue } = deps;
  const ids = "imageIds" in selection ? [...new Set(selection.imageIds)] : null;
  let sent = 0;
  let after: string | null = null;
  for (let offset = 0; ; offset += SEND_BATCH_LIMIT) {
    let page: { id: string }[];
    if (ids) {
      const chunk = ids.slice(offset, offset + SEND_BATCH_LIMIT);
      if (chunk.length === 0) break;
      page = await db.select({ id: images.id }).from(images).where(and(inArray(images.id, chunk), eq(images.stage, "done")));
    } else {
      page = await db
        .select({ id: images.id })
        .from(images)
        .where(after === null ? eq(images.stage, "done") : and(eq(images.stage, "done"), gt(images.id, after)))
        .orderBy(asc(images.id))
        .limit(SEND_BATCH_LIMIT);
      if (page.length === 0) break;
      after = page[page.length - 1]?.id ?? null;
    }
    if (page.length > 0) {
      await queue.sendBatch(page.map(({ id }) => ({ body: jobMessage("image.reprocess", { imageId: id, steps: [...steps] }), contentType: "json" as const })));
      sent += page.length;
    }
  }
  return sent;
}
