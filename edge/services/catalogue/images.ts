import { and, desc, eq } from "drizzle-orm";
import * as v from "valibot";
import { isListed } from "../../../common/images";
import type { Logger } from "../../../common/log";
import type { Database } from "../../../db/connect";
import { categories, imageCategories, images, imageTags, jobs } from "../../../db/schema";
import type { Store } from "../../adapters/store";
import { ApiError } from "../../lib/problem";
import * as s from "../../lib/schemas";
import { audit } from "../admin/audit";
import { assertCategoriesExist, ownImage, writeContributorLabels } from "./listings";
import { listedRenditions, type RenditionDeps, type RenditionViewers, renditionUrlsFor, syncRenditions } from "./renditions";
import { ListingFields, RenditionUrlsSchema } from "./schemas";
import { catalogueChanged } from "./search";

/**
 * An image as its contributor (or an admin) manages it: where its processing is, edits of its
 * listing, and withdrawal from sale. Every action is on the caller's own image (admins: any),
 * 404 otherwise; an admin acting on someone else's image is audited.
 */

/** Who acts, and the request to name in the audit log. */
export type Actor = { userId: string; role: string; requestId?: string };

/** `GET /v1/images/{id}/status`. */
export const ProcessingStatusSchema = v.object({
  imageId: s.uuid,
  status: v.string(),
  stage: v.string(),
  reason: v.nullable(v.string()),
  duplicateOf: v.nullable(v.string()),
  withdrawn: v.boolean(),
  attempts: v.number(),
  derivatives: RenditionUrlsSchema,
  /** The listed image this one duplicates (to show beside it); null when none or it is not public. */
  duplicate: v.nullable(v.object({ imageId: s.uuid, title: v.string(), thumbnailUrl: v.nullable(v.string()) })),
  /** The tagging model's suggestions, most confident first (offered to the contributor to accept). */
  aiTags: v.array(v.object({ tag: v.string(), confidence: v.nullable(v.number()) })),
  updatedAt: v.string(),
});
export type ProcessingStatus = v.InferOutput<typeof ProcessingStatusSchema>;

/**
 * Where an upload is: its stage and outcome, and the reason for it (while it is still processing,
 * the last error of its processing job). Renditions: public URLs while listed, presigned otherwise.
 */
export async function processingStatus(deps: { db: Database } & RenditionViewers, imageId: string, actor: Actor): Promise<ProcessingStatus> {
  const image = await ownImage(deps.db, imageId, actor);
  const [job] = await deps.db
    .select({ attempts: jobs.attempts, lastError: jobs.lastError })
    .from(jobs)
    .where(and(eq(jobs.imageId, image.id), eq(jobs.jobType, "image.process")));
  return {
    imageId: image.id,
    status: image.status,
    stage: image.stage,
    reason: image.statusReason ?? (image.status === "processing" ? (job?.lastError ?? null) : null),
    duplicateOf: image.duplicateOf,
    withdrawn: image.withdrawnAt !== null,
    attempts: job?.attempts ?? 0,
    derivatives: await renditionUrlsFor(deps, image),
    duplicate: image.duplicateOf ? await listedDuplicate(deps, image.duplicateOf) : null,
    aiTags: await deps.db
      .select({ tag: imageTags.tag, confidence: imageTags.confidence })
      .from(imageTags)
      .where(and(eq(imageTags.imageId, image.id), eq(imageTags.source, "ai")))
      .orderBy(desc(imageTags.confidence), imageTags.tag),
    updatedAt: image.updatedAt.toISOString(),
  };
}

/** The image an upload duplicates, as anyone may see it: only while it is listed (else null, so nothing leaks). */
async function listedDuplicate(deps: { db: Database } & RenditionViewers, duplicateId: string): Promise<ProcessingStatus["duplicate"]> {
  const [other] = await deps.db
    .select({ id: images.id, title: images.title, status: images.status, withdrawnAt: images.withdrawnAt, takenDownAt: images.takenDownAt, derivativeKeys: images.derivativeKeys })
    .from(images)
    .where(eq(images.id, duplicateId));
  if (!other || !isListed(other)) return null;
  return { imageId: other.id, title: other.title, thumbnailUrl: listedRenditions(deps.urls, other).thumb450 ?? null };
}

/** `PATCH /v1/images/{id}`: the fields to change, at least one. */
export const ListingEditSchema = v.pipe(
  v.strictObject({
    title: v.optional(ListingFields.title),
    // "" clears the description.
    description: v.optional(s.text(5000, 0)),
    // An empty list clears the contributor's keywords (AI tags stay).
    keywords: v.optional(v.pipe(v.array(s.text(50)), v.maxLength(50, "at most 50 keywords"))),
    categories: ListingFields.categories,
    editorial: ListingFields.editorial,
  }),
  v.check((body) => Object.keys(body).length > 0, "change at least one field"),
);
export type ListingEdit = v.InferOutput<typeof ListingEditSchema>;

/** The listing's fields after an edit. */
export const EditedListingSchema = v.object({ imageId: s.uuid, title: v.string(), description: v.nullable(v.string()), editorial: v.boolean() });
export type EditedListing = v.InferOutput<typeof EditedListingSchema>;

/** Edits a listing in one transaction (fields, contributor keywords and categories), then retires cached searches. */
export async function editListing(
  deps: { db: Database; store: Pick<Store, "incrementAndGet">; log: Logger },
  imageId: string,
  actor: Actor,
  edit: ListingEdit,
): Promise<EditedListing> {
  const image = await ownImage(deps.db, imageId, actor);
  await assertCategoriesExist(deps.db, edit.categories ?? []);
  const updated = await deps.db.transaction(async (tx) => {
    const [row] = await tx
      .update(images)
      .set({
        ...(edit.title !== undefined ? { title: edit.title } : {}),
        ...(edit.description !== undefined ? { description: edit.description || null } : {}),
        ...(edit.editorial !== undefined ? { editorial: edit.editorial } : {}),
        updatedAt: new Date(),
      })
      .where(eq(images.id, image.id))
      .returning({ imageId: images.id, title: images.title, description: images.description, editorial: images.editorial });
    await writeContributorLabels(tx, image.id, edit.keywords, edit.categories);
    if (actor.role === "admin" && actor.userId !== image.contributorId) {
      await audit(tx, { actorId: actor.userId, action: "image.edit", targetType: "image", targetId: image.id, detail: edit, requestId: actor.requestId });
    }
    return row;
  });
  if (!updated) throw new ApiError("not-found", "no such image");
  await catalogueChanged(deps);
  return updated;
}

/** `DELETE /v1/images/{id}`. */
export const WithdrawalSchema = v.object({ imageId: s.uuid, withdrawnAt: v.string() });
export type Withdrawal = v.InferOutput<typeof WithdrawalSchema>;

/**
 * Withdraws an image from sale (licenses already sold keep working): records the withdrawal, retires
 * cached searches and takes its renditions out of the public bucket. An upload that never completed
 * is abandoned instead (409).
 */
export async function withdrawImage(deps: RenditionDeps & { store: Pick<Store, "incrementAndGet"> }, imageId: string, actor: Actor): Promise<Withdrawal> {
  const image = await ownImage(deps.db, imageId, actor);
  if (image.stage === "awaiting_upload") throw new ApiError("conflict", "this upload never completed: abandon it with DELETE /v1/uploads/{id}");
  const withdrawnAt = image.withdrawnAt ?? new Date();
  if (!image.withdrawnAt) {
    await deps.db.update(images).set({ withdrawnAt, updatedAt: new Date() }).where(eq(images.id, image.id));
    if (actor.role === "admin" && actor.userId !== image.contributorId) {
      await audit(deps.db, { actorId: actor.userId, action: "image.withdraw", targetType: "image", targetId: image.id, requestId: actor.requestId });
    }
  }
  await catalogueChanged(deps);
  // Also when it was withdrawn already: a repeat finishes a sync that failed after the commit.
  await syncRenditions(deps, image.id);
  return { imageId: image.id, withdrawnAt: withdrawnAt.toISOString() };
}

/** The categories a contributor may file a listing under, in browse order (for the studio's forms). */
export async function categoryChoices(db: Database): Promise<{ slug: string; name: string }[]> {
  return db.select({ slug: categories.slug, name: categories.name }).from(categories).orderBy(categories.sortOrder, categories.name);
}

/**
 * A listing's fields as its edit form shows them: the contributor's own keywords and categories
 * (AI tags are offered apart). Call after an ownership check (processingStatus, ownImage).
 */
export async function listingForEdit(db: Database, imageId: string) {
  const [image] = await db.select({ title: images.title, description: images.description, editorial: images.editorial }).from(images).where(eq(images.id, imageId));
  if (!image) throw new ApiError("not-found", "no such image");
  const [tags, slugs] = await Promise.all([
    db
      .select({ tag: imageTags.tag })
      .from(imageTags)
      .where(and(eq(imageTags.imageId, imageId), eq(imageTags.source, "contributor")))
      .orderBy(imageTags.tag),
    db
      .select({ slug: imageCategories.categorySlug })
      .from(imageCategories)
      .where(and(eq(imageCategories.imageId, imageId), eq(imageCategories.source, "contributor"))),
  ]);
  return { ...image, keywords: tags.map((t) => t.tag), categories: slugs.map((c) => c.slug) };
}
