import { and, asc, count, desc, eq, inArray, max, sql } from "drizzle-orm";
import * as v from "valibot";
import { isListed, listedSql } from "../../../common/images";
import type { Database, Transaction } from "../../../db/connect";
import { collectionItems, collections, images, licenseType, users } from "../../../db/schema";
import type { PublicUrls } from "../../adapters/public-urls";
import { ApiError } from "../../lib/problem";
import * as s from "../../lib/schemas";
import { addToCart, CartSchema, type CartView, loadCart } from "../commerce/cart";
import { listedRenditions, listingColumns } from "./renditions";

/**
 * Collections (lightboxes, boards): a signed-in user's named sets of images, private to the owner.
 * Only listed images can be added; an image hidden later (withdrawn, taken down) stays in the owner's
 * view marked unavailable, without its thumbnail, and drops out of the shared view. A share link is a
 * random 256-bit token: whoever holds it sees the board read-only; revoking clears it and a new link
 * replaces the old one. Another user's board answers 404, as an unknown id does.
 */

/** A user keeps at most this many boards. */
export const MAX_COLLECTIONS = 100;
/** A board holds at most this many images. */
export const MAX_COLLECTION_ITEMS = 1000;

export type CollectionDeps = { db: Database; urls: PublicUrls };

/** A board's name and description (an empty description clears it). */
export const CollectionInputSchema = v.strictObject({ name: s.text(100), description: v.optional(s.text(1000, 0)) });
/** A rename, and the description when given. */
export const CollectionPatchSchema = CollectionInputSchema;
export const CollectionIdSchema = v.object({ id: s.uuid });
export const CollectionItemParamSchema = v.object({ id: s.uuid, imageId: s.uuid });
/** The owner's note on an image (an empty note clears it). */
export const CollectionItemInputSchema = v.strictObject({ note: v.optional(s.text(500, 0)) });
export const CollectionOrderSchema = v.strictObject({
  imageIds: v.pipe(v.array(s.uuid), v.minLength(1, "must name the collection's images"), v.maxLength(MAX_COLLECTION_ITEMS, `at most ${MAX_COLLECTION_ITEMS} images`)),
});
/** 43 base64url characters: 32 random bytes. */
export const ShareTokenParamSchema = v.object({ token: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{43}$/, "must be a share token")) });
export const LicenseAllSchema = v.strictObject({ licenseType: v.picklist(licenseType.enumValues, "must be standard, enhanced or editorial") });

const ItemSchema = v.object({
  imageId: s.uuid,
  title: v.string(),
  thumbnailUrl: v.nullable(v.string()),
  note: v.nullable(v.string()),
  addedAt: v.string(),
  /** Not listed any more (withdrawn, taken down): shown to the owner only, without a thumbnail. */
  unavailable: v.boolean(),
});
export const CollectionSummarySchema = v.object({
  id: s.uuid,
  name: v.string(),
  description: v.nullable(v.string()),
  itemCount: v.number(),
  coverUrl: v.nullable(v.string()),
  /** The share link's path while one exists (`/v1/shared/collections/<token>`; the web app's is `/boards/<token>`). */
  shareToken: v.nullable(v.string()),
  createdAt: v.string(),
  updatedAt: v.string(),
});
export const CollectionListSchema = v.object({ items: v.array(CollectionSummarySchema), max: v.number() });
export const CollectionSchema = v.object({ ...CollectionSummarySchema.entries, items: v.array(ItemSchema), maxItems: v.number() });
export const SharedCollectionSchema = v.object({
  name: v.string(),
  description: v.nullable(v.string()),
  ownerName: v.string(),
  items: v.array(v.omit(ItemSchema, ["unavailable", "note"])),
});
export const LicenseAllResultSchema = v.object({
  added: v.number(),
  skipped: v.array(v.object({ imageId: s.uuid, reason: v.string() })),
  cart: CartSchema,
});
export type CollectionView = v.InferOutput<typeof CollectionSchema>;
export type CollectionSummary = v.InferOutput<typeof CollectionSummarySchema>;
export type SharedCollectionView = v.InferOutput<typeof SharedCollectionSchema>;

const iso = (date: Date | string) => new Date(date).toISOString();
const notFound = () => new ApiError("not-found", "no collection with this id");

/** The owner's board row, or 404 (another user's board is as unknown as a missing one). */
async function ownedCollection(db: Database, ownerId: string, id: string) {
  const [row] = await db
    .select()
    .from(collections)
    .where(and(eq(collections.id, id), eq(collections.ownerId, ownerId)));
  if (!row) throw notFound();
  return row;
}

/** Locks the owner's board row for this transaction (its item changes queue up behind each other), or 404. */
async function lockOwnedCollection(tx: Transaction, ownerId: string, id: string): Promise<void> {
  const [board] = await tx
    .select({ id: collections.id })
    .from(collections)
    .where(and(eq(collections.id, id), eq(collections.ownerId, ownerId)))
    .for("update");
  if (!board) throw notFound();
}

async function itemsOf(deps: CollectionDeps, collectionId: string, onlyListed: boolean) {
  const rows = await deps.db
    .select({
      ...listingColumns,
      imageId: collectionItems.imageId,
      note: collectionItems.note,
      addedAt: collectionItems.addedAt,
      title: images.title,
    })
    .from(collectionItems)
    .innerJoin(images, eq(images.id, collectionItems.imageId))
    .where(and(eq(collectionItems.collectionId, collectionId), onlyListed ? listedSql() : undefined))
    .orderBy(asc(collectionItems.position), asc(collectionItems.addedAt), asc(collectionItems.imageId));
  return rows.map((row) => ({
    imageId: row.imageId,
    title: row.title,
    thumbnailUrl: listedRenditions(deps.urls, row).thumb450 ?? null,
    note: row.note,
    addedAt: iso(row.addedAt),
    unavailable: !isListed(row),
  }));
}

function summary(row: typeof collections.$inferSelect, itemCount: number, coverUrl: string | null): CollectionSummary {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    itemCount,
    coverUrl,
    shareToken: row.shareToken,
    createdAt: iso(row.createdAt),
    updatedAt: iso(row.updatedAt),
  };
}

/** The owner's boards, newest first, each with its size and the first listed image as its cover. */
export async function listCollections(deps: CollectionDeps, ownerId: string): Promise<v.InferOutput<typeof CollectionListSchema>> {
  const rows = await deps.db.select().from(collections).where(eq(collections.ownerId, ownerId)).orderBy(desc(collections.createdAt), desc(collections.id));
  const ids = rows.map((r) => r.id);
  const counts = ids.length
    ? await deps.db
        .select({ id: collectionItems.collectionId, n: count() })
        .from(collectionItems)
        .where(inArray(collectionItems.collectionId, ids))
        .groupBy(collectionItems.collectionId)
    : [];
  const covers = ids.length
    ? await deps.db
        .selectDistinctOn([collectionItems.collectionId], { ...listingColumns, id: collectionItems.collectionId })
        .from(collectionItems)
        .innerJoin(images, eq(images.id, collectionItems.imageId))
        .where(and(inArray(collectionItems.collectionId, ids), listedSql()))
        .orderBy(collectionItems.collectionId, asc(collectionItems.position), asc(collectionItems.addedAt))
    : [];
  const countOf = new Map(counts.map((c) => [c.id, c.n]));
  const coverOf = new Map(covers.map((c) => [c.id, listedRenditions(deps.urls, c).thumb450 ?? null]));
  return { items: rows.map((row) => summary(row, countOf.get(row.id) ?? 0, coverOf.get(row.id) ?? null)), max: MAX_COLLECTIONS };
}

/** One of the owner's boards with its items in the owner's order. */
export async function loadCollection(deps: CollectionDeps, ownerId: string, id: string): Promise<CollectionView> {
  const row = await ownedCollection(deps.db, ownerId, id);
  const items = await itemsOf(deps, id, false);
  return { ...summary(row, items.length, items.find((i) => !i.unavailable)?.thumbnailUrl ?? null), items, maxItems: MAX_COLLECTION_ITEMS };
}

/** A new, private board; 422 past {@link MAX_COLLECTIONS}. The owner's row is locked so two creations cannot both pass the limit. */
export async function createCollection(deps: CollectionDeps, ownerId: string, input: v.InferOutput<typeof CollectionInputSchema>): Promise<CollectionView> {
  const id = await deps.db.transaction(async (tx) => {
    await tx.execute(sql`select 1 from ${users} where ${users.id} = ${ownerId} for update`);
    const [owned] = await tx.select({ n: count() }).from(collections).where(eq(collections.ownerId, ownerId));
    if ((owned?.n ?? 0) >= MAX_COLLECTIONS) {
      throw new ApiError("validation-failed", `you can keep at most ${MAX_COLLECTIONS} collections`, {
        errors: [{ path: "", message: `delete a collection first (at most ${MAX_COLLECTIONS})` }],
      });
    }
    const [row] = await tx
      .insert(collections)
      .values({ ownerId, name: input.name, description: input.description || null })
      .returning({ id: collections.id });
    if (!row) throw new Error("collection insert returned no row");
    return row.id;
  });
  return loadCollection(deps, ownerId, id);
}

export async function updateCollection(deps: CollectionDeps, ownerId: string, id: string, patch: v.InferOutput<typeof CollectionPatchSchema>): Promise<CollectionView> {
  await ownedCollection(deps.db, ownerId, id);
  await deps.db
    .update(collections)
    .set({ name: patch.name, ...(patch.description !== undefined ? { description: patch.description || null } : {}), updatedAt: new Date() })
    .where(and(eq(collections.id, id), eq(collections.ownerId, ownerId)));
  return loadCollection(deps, ownerId, id);
}

export async function deleteCollection(db: Database, ownerId: string, id: string): Promise<void> {
  const deleted = await db
    .delete(collections)
    .where(and(eq(collections.id, id), eq(collections.ownerId, ownerId)))
    .returning({ id: collections.id });
  if (deleted.length === 0) throw notFound();
}

/**
 * Adds a listed image at the end (idempotent: `added` false when it was there; the note is then
 * updated). 404 for an image that is not listed (so unlisted ids do not leak), 422 on a full board.
 * The board's row is locked, so concurrent adds cannot pass the item limit together.
 */
export async function addToCollection(
  db: Database,
  ownerId: string,
  id: string,
  imageId: string,
  input: v.InferOutput<typeof CollectionItemInputSchema>,
): Promise<{ added: boolean }> {
  return db.transaction(async (tx) => {
    await lockOwnedCollection(tx, ownerId, id);
    const [existing] = await tx
      .select({ imageId: collectionItems.imageId })
      .from(collectionItems)
      .where(and(eq(collectionItems.collectionId, id), eq(collectionItems.imageId, imageId)));
    if (existing) {
      if (input.note !== undefined) {
        await tx
          .update(collectionItems)
          .set({ note: input.note || null })
          .where(and(eq(collectionItems.collectionId, id), eq(collectionItems.imageId, imageId)));
      }
      return { added: false };
    }
    const [image] = await tx
      .select({ id: images.id })
      .from(images)
      .where(and(eq(images.id, imageId), listedSql()));
    if (!image) throw new ApiError("not-found", "no listed image with this id");
    const [size] = await tx
      .select({ n: count(), last: max(collectionItems.position) })
      .from(collectionItems)
      .where(eq(collectionItems.collectionId, id));
    if ((size?.n ?? 0) >= MAX_COLLECTION_ITEMS) {
      throw new ApiError("validation-failed", `a collection holds at most ${MAX_COLLECTION_ITEMS} images`, {
        errors: [{ path: "", message: `the collection is full (${MAX_COLLECTION_ITEMS} images)` }],
      });
    }
    await tx.insert(collectionItems).values({ collectionId: id, imageId, note: input.note || null, position: (size?.last ?? -1) + 1 });
    await tx.update(collections).set({ updatedAt: new Date() }).where(eq(collections.id, id));
    return { added: true };
  });
}

export async function removeFromCollection(db: Database, ownerId: string, id: string, imageId: string): Promise<void> {
  await ownedCollection(db, ownerId, id);
  const removed = await db
    .delete(collectionItems)
    .where(and(eq(collectionItems.collectionId, id), eq(collectionItems.imageId, imageId)))
    .returning({ imageId: collectionItems.imageId });
  if (removed.length === 0) throw new ApiError("not-found", "this image is not in the collection");
}

/** Puts the items in the given order; the list must name every item of the board exactly once (422 otherwise). */
export async function reorderCollection(db: Database, ownerId: string, id: string, imageIds: readonly string[]): Promise<void> {
  await db.transaction(async (tx) => {
    await lockOwnedCollection(tx, ownerId, id);
    const current = await tx.select({ imageId: collectionItems.imageId }).from(collectionItems).where(eq(collectionItems.collectionId, id));
    const have = new Set(current.map((r) => r.imageId));
    const given = new Set(imageIds);
    if (given.size !== imageIds.length || given.size !== have.size || [...given].some((imageId) => !have.has(imageId))) {
      const message = `list every image of the collection exactly once (${have.size} images)`;
      throw new ApiError("validation-failed", message, { errors: [{ path: "imageIds", message }] });
    }
    if (imageIds.length > 0) {
      // The ids are validated UUIDs, passed as one array parameter.
      await tx.execute(sql`update ${collectionItems} set position = o.position - 1
        from unnest(${`{${imageIds.join(",")}}`}::uuid[]) with ordinality as o(image_id, position)
        where ${collectionItems.collectionId} = ${id} and ${collectionItems.imageId} = o.image_id`);
    }
    await tx.update(collections).set({ updatedAt: new Date() }).where(eq(collections.id, id));
  });
}

/** Sets the board's share token (null revokes it); 404 when it is not the owner's board. */
async function setShareToken(db: Database, ownerId: string, id: string, token: string | null): Promise<void> {
  const updated = await db
    .update(collections)
    .set({ shareToken: token, updatedAt: new Date() })
    .where(and(eq(collections.id, id), eq(collections.ownerId, ownerId)))
    .returning({ id: collections.id });
  if (updated.length === 0) throw notFound();
}

/** A new share link for the board (any earlier link stops working); returns the token. */
export async function shareCollection(db: Database, ownerId: string, id: string): Promise<string> {
  const token = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
  await setShareToken(db, ownerId, id, token);
  return token;
}

/** Revokes the share link (nothing to do when there is none). */
export async function unshareCollection(db: Database, ownerId: string, id: string): Promise<void> {
  await setShareToken(db, ownerId, id, null);
}

/** The owner's boards by name only, newest first: the image page's "Save to a board" choices (no counts or covers). */
export async function collectionNames(db: Database, ownerId: string): Promise<{ id: string; name: string }[]> {
  return db
    .select({ id: collections.id, name: collections.name })
    .from(collections)
    .where(eq(collections.ownerId, ownerId))
    .orderBy(desc(collections.createdAt), desc(collections.id));
}

/** The board behind a share link, read-only, with only the images listed now; 404 for an unknown or revoked link. */
export async function loadSharedCollection(deps: CollectionDeps, token: string): Promise<SharedCollectionView> {
  const [row] = await deps.db
    .select({ id: collections.id, name: collections.name, description: collections.description, ownerName: users.displayName })
    .from(collections)
    .innerJoin(users, eq(users.id, collections.ownerId))
    .where(eq(collections.shareToken, token));
  if (!row) throw new ApiError("not-found", "this share link does not exist or was revoked");
  const items = (await itemsOf(deps, row.id, true)).map(({ unavailable: _u, note: _n, ...item }) => item);
  return { name: row.name, description: row.description, ownerName: row.ownerName, items };
}

/**
 * "License all": puts every image of the board in the buyer's cart under one license type, through the
 * cart's own rules (only what is for sale now, not already held, the cart's limit); what could not be
 * added is listed with the reason. Already in the cart counts as added.
 */
export async function licenseAll(
  deps: CollectionDeps,
  buyerId: string,
  id: string,
  type: v.InferOutput<typeof LicenseAllSchema>["licenseType"],
): Promise<{ added: number; skipped: { imageId: string; reason: string }[]; cart: CartView }> {
  await ownedCollection(deps.db, buyerId, id);
  const items = await deps.db
    .select({ imageId: collectionItems.imageId })
    .from(collectionItems)
    .where(eq(collectionItems.collectionId, id))
    .orderBy(asc(collectionItems.position), asc(collectionItems.addedAt));
  let added = 0;
  const skipped: { imageId: string; reason: string }[] = [];
  for (const { imageId } of items) {
    try {
      await addToCart(deps.db, buyerId, { imageId, licenseType: type });
      added += 1;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      skipped.push({ imageId, reason: error.detail ?? error.type });
    }
  }
  return { added, skipped, cart: await loadCart(deps, buyerId) };
}
