import { and, asc, eq, gt, inArray } from "drizzle-orm";
import { jobMessage, type ReprocessStep } from "../../../common/jobs";
import type { Database } from "../../../db/connect";
import { images } from "../../../db/schema";

/** Queues' sendBatch takes at most 100 messages. */
export const SEND_BATCH_LIMIT = 100;

/**
 * Most images one call enqueues for "all": 50 sendBatch calls, well inside a Worker request's
 * subrequest limit. A larger catalogue is walked in several calls, each starting `after` the last.
 */
export const MAX_IMAGES_PER_CALL = 5000;

/** Which images to reprocess: these ids (at most MAX_IMAGES_PER_CALL), or every processed image, from `after` on (by id). */
export type ReprocessSelection = { imageIds: readonly string[] } | { all: true; after?: string | null };

/** How many messages were sent, and where the next call for "all" starts (null when the catalogue is done). */
export type ReprocessEnqueued = { enqueued: number; next: string | null };

/**
 * Enqueues `image.reprocess` for the selected images (only processed ones: stage done; the
 * worker re-runs `steps` from each stored original, gpu-worker/jobs/image-reprocess.ts), in
 * pages of {@link SEND_BATCH_LIMIT}, one sendBatch each. Sending twice is harmless: the job is
 * idempotent.
 *
 * @example
 * let next: string | null = null;
 * do ({ next } = await enqueueReprocess({ db, queue: env.JOBS }, { all: true, after: next }, ["embedding", "tags"]));
 * while (next !== null);
 */
export async function enqueueReprocess(deps: { db: Database; queue: Queue }, selection: ReprocessSelection, steps: readonly ReprocessStep[]): Promise<ReprocessEnqueued> {
  const { db, queue } = deps;
  const send = async (page: { id: string }[]) => {
    if (page.length === 0) return;
    await queue.sendBatch(page.map(({ id }) => ({ body: jobMessage("image.reprocess", { imageId: id, steps: [...steps] }), contentType: "json" as const })));
  };

  if ("imageIds" in selection) {
    const ids = [...new Set(selection.imageIds)];
    if (ids.length > MAX_IMAGES_PER_CALL) throw new RangeError(`at most ${MAX_IMAGES_PER_CALL} image ids per call`);
    let enqueued = 0;
    for (let offset = 0; offset < ids.length; offset += SEND_BATCH_LIMIT) {
      const page = await db
        .select({ id: images.id })
        .from(images)
        .where(and(inArray(images.id, ids.slice(offset, offset + SEND_BATCH_LIMIT)), eq(images.stage, "done")));
      await send(page);
      enqueued += page.length;
    }
    return { enqueued, next: null };
  }

  let after = selection.after ?? null;
  let enqueued = 0;
  while (enqueued < MAX_IMAGES_PER_CALL) {
    const page = await db
      .select({ id: images.id })
      .from(images)
      .where(after === null ? eq(images.stage, "done") : and(eq(images.stage, "done"), gt(images.id, after)))
      .orderBy(asc(images.id))
      .limit(SEND_BATCH_LIMIT);
    await send(page);
    enqueued += page.length;
    if (page.length < SEND_BATCH_LIMIT) return { enqueued, next: null };
    after = page[page.length - 1]?.id ?? null;
  }
  return { enqueued, next: after };
}
