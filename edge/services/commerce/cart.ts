import { and, asc, count, eq, inArray } from "drizzle-orm";
import * as v from "valibot";
import type { Database } from "../../../db/connect";
import { cartItems, carts, images, licenseType } from "../../../db/schema";
import { CURRENCY_DEFAULT } from "../../../db/schema/columns";
import type { PublicUrls } from "../../adapters/public-urls";
import { ApiError } from "../../lib/problem";
import * as s from "../../lib/schemas";
import { listedRenditions } from "../catalogue/renditions";
import { EDITORIAL_ONLY } from "./license-types";
import { heldLicenses, holding } from "./licenses";
import { sumCents } from "./money";
import { quote, UNAVAILABLE_REASONS } from "./quotes";

/** A cart holds at most this many items (one checkout becomes one Stripe session). */
export const MAX_CART_ITEMS = 100;

/** One line of a cart: an image under a license type (the body of an add, the path of a removal). */
export const CartLineSchema = v.strictObject({ imageId: s.uuid, licenseType: v.picklist(licenseType.enumValues, "must be standard, enhanced or editorial") });
export type CartLine = v.InferOutput<typeof CartLineSchema>;

export type CartDeps = { db: Database; urls: PublicUrls };

export const CartSchema = v.object({
  items: v.array(
    v.object({
      imageId: s.uuid,
      licenseType: v.picklist(licenseType.enumValues),
      title: v.string(),
      thumbnailUrl: v.nullable(v.string()),
      amountCents: v.nullable(v.number()),
      currency: v.string(),
      unavailable: v.nullable(v.picklist(UNAVAILABLE_REASONS)),
    }),
  ),
  /** Sum over the items that can be bought now. */
  totalCents: v.number(),
  currency: v.string(),
  count: v.number(),
});
export type CartView = v.InferOutput<typeof CartSchema>;

/**
 * The buyer's cart priced now (prices are not frozen in the cart): each item with its current
 * price, or why it cannot be bought any more (withdrawn, taken down, no price).
 */
export async function loadCart(deps: CartDeps, buyerId: string, currency = CURRENCY_DEFAULT): Promise<CartView> {
  const { db, urls } = deps;
  const rows = await db
    .select({
      imageId: cartItems.imageId,
      licenseType: cartItems.licenseType,
      title: images.title,
      status: images.status,
      withdrawnAt: images.withdrawnAt,
      takenDownAt: images.takenDownAt,
      derivativeKeys: images.derivativeKeys,
    })
    .from(cartItems)
    .innerJoin(carts, eq(carts.id, cartItems.cartId))
    .innerJoin(images, eq(images.id, cartItems.imageId))
    .where(eq(carts.buyerId, buyerId))
    .orderBy(asc(cartItems.addedAt), asc(cartItems.imageId), asc(cartItems.licenseType));
  const quotes = await quote(db, rows, currency);
  const items = rows.map((row, i) => {
    const priced = quotes[i];
    return {
      imageId: row.imageId,
      licenseType: row.licenseType,
      title: row.title,
      // An item no longer listed has no public thumbnail any more.
      thumbnailUrl: listedRenditions(urls, row).thumb450 ?? null,
      amountCents: priced?.amountCents ?? null,
      currency,
      unavailable: priced ? priced.unavailable : "not-found",
    };
  });
  const totalCents = sumCents(items.flatMap((item) => (item.unavailable === null && item.amountCents !== null ? [item.amountCents] : [])));
  return { items, totalCents, currency, count: items.length };
}

const refuseLicenseType = (message: string) => new ApiError("validation-failed", message, { errors: [{ path: "licenseType", message }] });

/**
 * Puts an image under a license type in the buyer's cart; `added` is false when it was there
 * already (adding is idempotent). Refuses what cannot be bought (404 for images that are not for
 * sale, so unlisted ids do not leak), an editorial image under another license or one without a
 * price (422), a license the buyer already holds (409) and a full cart (422). The cart row is
 * upserted, which also locks it: concurrent adds of one buyer queue up behind each other, so two
 * first adds make one cart and the item limit holds.
 */
export async function addToCart(db: Database, buyerId: string, line: CartLine, currency = CURRENCY_DEFAULT): Promise<{ added: boolean }> {
  const [priced] = await quote(db, [line], currency);
  if (!priced || priced.unavailable === "not-found" || priced.unavailable === "not-for-sale") throw new ApiError("not-found", "no image for sale with this id");
  if (priced.unavailable === "editorial-only") throw refuseLicenseType(EDITORIAL_ONLY);
  if (priced.unavailable === "no-price") throw refuseLicenseType(`this image has no ${line.licenseType} price`);

  const held = holding(await heldLicenses(db, buyerId, [line.imageId]), line);
  if (held) throw new ApiError("conflict", `you already hold a ${line.licenseType} license for this image`, { licenseId: held.id });

  return db.transaction(async (tx) => {
    const [cart] = await tx
      .insert(carts)
      .values({ buyerId })
      .onConflictDoUpdate({ target: carts.buyerId, set: { updatedAt: new Date() } })
      .returning({ id: carts.id });
    if (!cart) throw new Error("cart upsert returned no row");
    const inCart = and(eq(cartItems.cartId, cart.id), eq(cartItems.imageId, line.imageId), eq(cartItems.licenseType, line.licenseType));
    const [existing] = await tx.select({ imageId: cartItems.imageId }).from(cartItems).where(inCart);
    if (existing) return { added: false };
    const [size] = await tx.select({ n: count() }).from(cartItems).where(eq(cartItems.cartId, cart.id));
    if ((size?.n ?? 0) >= MAX_CART_ITEMS) {
      throw new ApiError("validation-failed", `a cart holds at most ${MAX_CART_ITEMS} items`, {
        errors: [{ path: "", message: `the cart is full (${MAX_CART_ITEMS} items); check out or remove items first` }],
        maxItems: MAX_CART_ITEMS,
      });
    }
    await tx.insert(cartItems).values({ cartId: cart.id, ...line });
    return { added: true };
  });
}

/** {@link addToCart}, then the cart as it is now; `added` tells a new item from one already there. */
export async function addToCartAndLoad(deps: CartDeps, buyerId: string, line: CartLine): Promise<{ added: boolean; cart: CartView }> {
  const { added } = await addToCart(deps.db, buyerId, line);
  return { added, cart: await loadCart(deps, buyerId) };
}

/** Removes one item; 404 when it is not in the buyer's cart. */
export async function removeFromCart(db: Database, buyerId: string, line: CartLine): Promise<void> {
  const removed = await db
    .delete(cartItems)
    .where(
      and(
        eq(cartItems.imageId, line.imageId),
        eq(cartItems.licenseType, line.licenseType),
        inArray(cartItems.cartId, db.select({ id: carts.id }).from(carts).where(eq(carts.buyerId, buyerId))),
      ),
    )
    .returning({ imageId: cartItems.imageId });
  if (removed.length === 0) throw new ApiError("not-found", "this image and license type are not in your cart");
}

/** Empties the buyer's cart (nothing to do when there is none). */
export async function emptyCart(db: Database, buyerId: string): Promise<void> {
  await db.delete(cartItems).where(inArray(cartItems.cartId, db.select({ id: carts.id }).from(carts).where(eq(carts.buyerId, buyerId))));
}
