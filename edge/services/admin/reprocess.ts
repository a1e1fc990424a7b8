import { and, asc, eq, gt, inArray } from "drizzle-orm";
import * as v from "valibot";
import { jobMessage, REPROCESS_STEPS, type ReprocessStep } from "../../../common/jobs";
import type { Database } from "../../../db/connect";
import { images } from "../../../db/schema";
import { audit } from "./audit";

/** Queues' sendBatch takes at most 100 messages. */
export const SEND_BATCH_LIMIT = 100;

/**
 * Most images one call enqueues for "all": 50 sendBatch calls, well inside a Worker request's
 * subrequest limit. A larger catalogue is walked in several calls, each starting `after` the last.
 */
export const MAX_IMAGES_PER_CALL = 5000;

/** Which images to reprocess: these ids (at most MAX_IMAGES_PER_CALL), or every processed image, from `after` on (by id). */
export type ReprocessSelection = { imageIds: readonly string[] } | { all: true; after?: string | null };

const uuid = v.pipe(v.string(), v.uuid("must be a UUID"));
const steps = v.pipe(
  v.array(v.picklist(REPROCESS_STEPS, `steps are ${REPROCESS_STEPS.join(", ")}`)),
  v.minLength(1, "name at least one step"),
  v.maxLength(REPROCESS_STEPS.length, `at most ${REPROCESS_STEPS.length} steps`),
);

/** `POST /v1/admin/reprocess`: the steps, and these images (`imageIds`) or every processed one (`all`, walked from `after`). */
export const ReprocessRequestSchema = v.pipe(
  v.strictObject({
    steps,
    imageIds: v.optional(v.pipe(v.array(uuid), v.minLength(1, "name at least one image"), v.maxLength(MAX_IMAGES_PER_CALL, `at most ${MAX_IMAGES_PER_CALL} images per call`))),
    all: v.optional(v.literal(true, "must be true")),
    after: v.optional(uuid),
  }),
  v.forward(
    v.check((body) => (body.imageIds === undefined) !== (body.all === undefined), "send imageIds or all: true, not both"),
    ["imageIds"],
  ),
  v.forward(
    v.check((body) => body.after === undefined || body.all === true, "after continues a walk of all images"),
    ["after"],
  ),
);
export type ReprocessRequest = v.InferOutput<typeof ReprocessRequestSchema>;

/** How many messages were sent, and where the next call for "all" starts (null when the catalogue is done). */
export const ReprocessEnqueuedSchema = v.object({ enqueued: v.number(), next: v.nullable(v.string()) });
export type ReprocessEnqueued = v.InferOutput<typeof ReprocessEnqueuedSchema>;

/** An admin's reprocess request: enqueued, then audited (what, how many, where the walk stopped). */
export async function reprocessByAdmin(deps: { db: Database; queue: Queue }, request: ReprocessRequest, by: { actorId: string; requestId?: string }): Promise<ReprocessEnqueued> {
  const selection: ReprocessSelection = request.imageIds ? { imageIds: request.imageIds } : { all: true, after: request.after ?? null };
  const result = await enqueueReprocess(deps, selection, request.steps);
  await audit(deps.db, {
    actorId: by.actorId,
    action: "images.reprocess",
    targetType: "image",
    detail: { steps: request.steps, selection: request.imageIds ? { imageIds: request.imageIds.length } : { all: true, after: request.after ?? null }, ...result },
    requestId: by.requestId,
  });
  return result;
}

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
