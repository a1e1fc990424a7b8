import { and, asc, count, eq, inArray, isNull, sql } from "drizzle-orm";
import type { PgUpdateSetSource } from "drizzle-orm/pg-core";
import * as v from "valibot";
import type { Database } from "../../../db/connect";
import { type ImageStatus, imageStatus, images, users } from "../../../db/schema";
import type { Store } from "../../adapters/store";
import { type CursorPosition, page } from "../../lib/pagination";
import { ApiError } from "../../lib/problem";
import * as s from "../../lib/schemas";
import { type RenditionDeps, type RenditionViewers, renditionUrlsFor, syncRenditions } from "../catalogue/renditions";
import { catalogueChanged } from "../catalogue/search";
import { audit } from "./audit";

/** An image waiting for review, as a moderator sees it. */
export const ModerationItemSchema = v.object({
  id: s.uuid,
  title: v.string(),
  contributor: v.object({ id: s.uuid, displayName: v.string() }),
  statusReason: v.nullable(v.string()),
  nsfwScore: v.nullable(v.number()),
  duplicateOf: v.nullable(s.uuid),
  editorial: v.boolean(),
  thumbnailUrl: v.nullable(v.string()),
  previewUrl: v.nullable(v.string()),
  createdAt: v.string(),
});
export type ModerationItem = v.InferOutput<typeof ModerationItemSchema>;

/** `GET /v1/admin/moderation/queue`: a page of images pending review. */
export const ModerationQueueSchema = s.pageOf(ModerationItemSchema);
export type ModerationQueue = v.InferOutput<typeof ModerationQueueSchema>;

/**
 * Images waiting for a moderator, oldest first (keyset over created_at, id ascending). They are
 * not listed, so their thumbnails and previews are presigned URLs of the private copies.
 */
export async function moderationQueue(db: Database, limit: number, after: CursorPosition | undefined, renditions: RenditionViewers): Promise<ModerationQueue> {
  const rows = await db
    .select({
      id: images.id,
      title: images.title,
      contributorId: users.id,
      displayName: users.displayName,
      statusReason: images.statusReason,
      nsfwScore: images.nsfwScore,
      duplicateOf: images.duplicateOf,
      editorial: images.editorial,
      status: images.status,
      withdrawnAt: images.withdrawnAt,
      takenDownAt: images.takenDownAt,
      derivativeKeys: images.derivativeKeys,
      createdAt: images.createdAt,
    })
    .from(images)
    .innerJoin(users, eq(users.id, images.contributorId))
    .where(
      and(eq(images.status, "pending_review"), after ? sql`(${images.createdAt}, ${images.id}) > (${after.createdAt.toISOString()}::timestamptz, ${after.id}::uuid)` : undefined),
    )
    .orderBy(asc(images.createdAt), asc(images.id))
    .limit(limit + 1);
  const { items, nextCursor } = page(rows, limit);
  return {
    items: await Promise.all(
      items.map(async (row): Promise<ModerationItem> => {
        const urls = await renditionUrlsFor(renditions, row);
        return {
          id: row.id,
          title: row.title,
          contributor: { id: row.contributorId, displayName: row.displayName },
          statusReason: row.statusReason,
          nsfwScore: row.nsfwScore,
          duplicateOf: row.duplicateOf,
          editorial: row.editorial,
          thumbnailUrl: urls.thumb450 ?? null,
          previewUrl: urls.preview ?? null,
          createdAt: row.createdAt.toISOString(),
        };
      }),
    ),
    nextCursor,
  };
}

/** How many images wait for review (the console's dashboard). */
export async function moderationQueueLength(db: Database): Promise<number> {
  const [row] = await db.select({ n: count() }).from(images).where(eq(images.status, "pending_review"));
  return row?.n ?? 0;
}

/** The image a held one nearly duplicates, as a moderator compares them side by side. */
export type DuplicateSide = { id: string; title: string; status: ImageStatus; contributor: string; thumbnailUrl: string | null };

/**
 * The images that queued images duplicate (by `duplicateOf`), keyed by id, with their thumbnails:
 * public URLs when listed, presigned private ones otherwise, as {@link moderationQueue} gives.
 */
export async function duplicatesOf(db: Database, ids: string[], renditions: RenditionViewers): Promise<Map<string, DuplicateSide>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Map();
  const rows = await db
    .select({
      id: images.id,
      title: images.title,
      status: images.status,
      contributor: users.displayName,
      withdrawnAt: images.withdrawnAt,
      takenDownAt: images.takenDownAt,
      derivativeKeys: images.derivativeKeys,
    })
    .from(images)
    .innerJoin(users, eq(users.id, images.contributorId))
    .where(inArray(images.id, unique));
  const sides = await Promise.all(
    rows.map(async (row): Promise<DuplicateSide> => {
      const urls = await renditionUrlsFor(renditions, row);
      return { id: row.id, title: row.title, status: row.status, contributor: row.contributor, thumbnailUrl: urls.thumb450 ?? null };
    }),
  );
  return new Map(sides.map((side) => [side.id, side]));
}

/** The reason a rejection or takedown must give (shown to the contributor). */
export const ModerationReasonSchema = s.text(500, 3);

export type ModerationAction = "approve" | "reject" | "takedown";

/** The image as a moderation decision left it. */
const ModeratedImageSchema = v.object({
  id: s.uuid,
  status: v.picklist(imageStatus.enumValues),
  statusReason: v.nullable(v.string()),
  publishedAt: v.nullable(v.string()),
  takenDownAt: v.nullable(v.string()),
  updatedAt: v.string(),
});
export type ModeratedImage = v.InferOutput<typeof ModeratedImageSchema>;

type Transition = { from: ImageStatus; set: (reason: string | undefined) => PgUpdateSetSource<typeof images> };

/** Where each action may start and what it writes. */
const TRANSITIONS: Record<ModerationAction, Transition> = {
  approve: { from: "pending_review", set: () => ({ status: "approved", statusReason: null, publishedAt: sql`coalesce(${images.publishedAt}, now())` }) },
  reject: { from: "pending_review", set: (reason) => ({ status: "rejected", statusReason: reason }) },
  // A takedown leaves the image rejected with its reason; taken_down_at tells it from a plain rejection.
  takedown: { from: "approved", set: (reason) => ({ status: "rejected", statusReason: reason, takenDownAt: sql`now()` }) },
};

const PAST_TENSE: Record<ModerationAction, string> = { approve: "approved", reject: "rejected", takedown: "taken down" };

/**
 * Applies a moderation action and records it in the audit log, in one transaction. The update is
 * conditional on the image's current status, so of two moderators acting at once only one
 * succeeds; the other gets a 409 (an unknown image is a 404).
 */
export async function moderate(
  db: Database,
  imageId: string,
  action: ModerationAction,
  by: { actorId: string; requestId?: string },
  detail: { reason?: string; note?: string },
): Promise<ModeratedImage> {
  const transition = TRANSITIONS[action];
  return db.transaction(async (tx) => {
    const [updated] = await tx
      .update(images)
      .set({ ...transition.set(detail.reason), updatedAt: new Date() })
      .where(and(eq(images.id, imageId), eq(images.status, transition.from), isNull(images.takenDownAt)))
      .returning({
        id: images.id,
        status: images.status,
        statusReason: images.statusReason,
        publishedAt: images.publishedAt,
        takenDownAt: images.takenDownAt,
        updatedAt: images.updatedAt,
      });
    if (!updated) {
      const [current] = await tx.select({ status: images.status, takenDownAt: images.takenDownAt }).from(images).where(eq(images.id, imageId));
      if (!current) throw new ApiError("not-found", "no image with this id");
      throw new ApiError("conflict", `only an image that is ${transition.from.replace("_", " ")} can be ${PAST_TENSE[action]}`, {
        imageStatus: current.status,
        takenDown: current.takenDownAt !== null,
      });
    }
    await audit(tx, {
      actorId: by.actorId,
      action: `moderation.${action}`,
      targetType: "image",
      targetId: imageId,
      detail: { from: transition.from, to: updated.status, ...detail },
      requestId: by.requestId,
    });
    return {
      ...updated,
      publishedAt: updated.publishedAt?.toISOString() ?? null,
      takenDownAt: updated.takenDownAt?.toISOString() ?? null,
      updatedAt: updated.updatedAt.toISOString(),
    };
  });
}

/** A moderation decision's answer: the image, and what the decision did to the public copies of its renditions. */
export const ModerationOutcomeSchema = v.object({
  image: ModeratedImageSchema,
  renditions: v.object({ published: v.number(), unpublished: v.number(), cdnPurge: v.picklist(["purged", "not-configured", "failed", "none"]) }),
});
export type ModerationOutcome = v.InferOutput<typeof ModerationOutcomeSchema>;

/**
 * A moderation decision ({@link moderate}), then cached searches retired and the public bucket made
 * to follow the listing (approve publishes, reject and takedown unpublish and purge). A decision
 * refused as a conflict still syncs, so repeating one whose sync failed after its commit finishes the job.
 */
export async function moderateAndSync(
  deps: RenditionDeps & { store: Pick<Store, "incrementAndGet"> },
  imageId: string,
  action: ModerationAction,
  by: { actorId: string; requestId?: string },
  detail: { reason?: string; note?: string },
): Promise<ModerationOutcome> {
  let image: ModeratedImage;
  try {
    image = await moderate(deps.db, imageId, action, by, detail);
  } catch (error) {
    if (error instanceof ApiError && error.type === "conflict") await syncRenditions(deps, imageId, { onlyMissing: true });
    throw error;
  }
  await catalogueChanged(deps);
  const synced = await syncRenditions(deps, image.id);
  return { image, renditions: { published: synced.published.length, unpublished: synced.unpublished.length, cdnPurge: synced.purge } };
}
