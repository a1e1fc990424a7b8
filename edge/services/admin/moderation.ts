import { and, asc, eq, isNull, sql } from "drizzle-orm";
import type { PgUpdateSetSource } from "drizzle-orm/pg-core";
import type { Database } from "../../../db/connect";
import { type ImageStatus, images, users } from "../../../db/schema";
import { type CursorPosition, page } from "../../lib/pagination";
import { ApiError } from "../../lib/problem";
import { audit } from "./audit";
import { type RenditionDeps, renditionUrlsFor } from "../catalogue/renditions";

export type ModerationItem = {
  id: string;
  title: string;
  contributor: { id: string; displayName: string };
  statusReason: string | null;
  nsfwScore: number | null;
  duplicateOf: string | null;
  editorial: boolean;
  thumbnailUrl: string | null;
  previewUrl: string | null;
  createdAt: string;
};

/**
 * Images waiting for a moderator, oldest first (keyset over created_at, id ascending). They are
 * not listed, so their thumbnails and previews are presigned URLs of the private copies.
 */
export async function moderationQueue(db: Database, limit: number, after: CursorPosition | undefined, renditions: Pick<RenditionDeps, "config" | "env" | "ctx">) {
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
      and(
        eq(images.status, "pending_review"),
        after ? sql`(${images.createdAt}, ${images.id}) > (${after.createdAt.toISOString()}::timestamptz, ${after.id}::uuid)` : undefined,
      ),
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

export type ModerationAction = "approve" | "reject" | "takedown";

export type ModeratedImage = { id: string; status: ImageStatus; statusReason: string | null; publishedAt: string | null; takenDownAt: string | null; updatedAt: string };

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
