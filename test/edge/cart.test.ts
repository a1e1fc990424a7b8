import { env } from "cloudflare:test";
import { count, eq, inArray } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cartItems, carts, images, licensePrices, licenses, users } from "../../db/schema";
import { readConfig } from "../../edge/config";
import { ApiError } from "../../edge/lib/problem";
import { addToCart, type CartView, MAX_CART_ITEMS } from "../../edge/services/commerce/cart";
import { quote } from "../../edge/services/commerce/quotes";
import { api, expectProblem, signUp, testDb } from "./support";

/**
 * The cart on rows written straight to the database. Every image the tests buy has its own price
 * in the marketplace currency, so other test files' default prices never change the figures.
 */

const { db, pool } = testDb();
afterAll(() => pool.end());

const DERIVATIVES = readConfig(env).DERIVATIVES_PUBLIC_URL.replace(/\/+$/, "");

type Cart = CartView;

let contributorId: string;

async function insertImage(values: Partial<typeof images.$inferInsert> = {}, prices: Partial<Record<"standard" | "enhanced" | "editorial", number>> = {}) {
  const [row] = await db
    .insert(images)
    .values({ contributorId, title: `Cart image ${crypto.randomUUID().slice(0, 8)}`, status: "approved", stage: "done", publishedAt: new Date(), ...values })
    .returning({ id: images.id });
  if (!row) throw new Error("insert failed");
  const entries = Object.entries(prices) as ["standard" | "enhanced" | "editorial", number][];
  if (entries.length > 0) await db.insert(licensePrices).values(entries.map(([licenseType, amountCents]) => ({ imageId: row.id, licenseType, amountCents })));
  return row.id;
}

const itemsOf = async (buyerId: string) =>
  (await db.select({ n: count() }).from(cartItems).innerJoin(carts, eq(carts.id, cartItems.cartId)).where(eq(carts.buyerId, buyerId)))[0]?.n ?? 0;

beforeAll(async () => {
  const [user] = await db
    .insert(users)
    .values({ email: `cart-contributor-${crypto.randomUUID()}@example.test`, passwordHash: "unused", role: "contributor", displayName: "Cart Contributor" })
    .returning({ id: users.id });
  if (!user) throw new Error("no contributor");
  contributorId = user.id;
});

describe("cart", () => {
  let buyer: Awaited<ReturnType<typeof signUp>>;
  const ids: Record<string, string> = {};
  const add = (imageId: string, licenseType: string, token = buyer.accessToken) => api("/v1/cart", { method: "POST", token, json: { imageId, licenseType } });
  const cart = async (token = buyer.accessToken) => {
    const res = await api("/v1/cart", { token });
    expect(res.status).toBe(200);
    return (await res.json()) as Cart;
  };

  beforeAll(async () => {
    buyer = await signUp("buyer");
    ids.harbour = await insertImage(
      { title: "Harbour at dawn", derivativeKeys: { thumb450: "images/h/thumb-450.webp", preview: "images/h/preview-1200.webp" } },
      { standard: 1500, enhanced: 4000 },
    );
    ids.forest = await insertImage({ title: "Forest path" }, { standard: 2500 });
    ids.protest = await insertImage({ title: "Protest on the square", editorial: true }, { editorial: 900, standard: 100 });
    ids.pending = await insertImage({ status: "pending_review" }, { standard: 1000 });
    ids.rejected = await insertImage({ status: "rejected" }, { standard: 1000 });
    ids.withdrawn = await insertImage({ withdrawnAt: new Date() }, { standard: 1000 });
    ids.takenDown = await insertImage({ status: "rejected", statusReason: "copyright claim", takenDownAt: new Date() }, { standard: 1000 });
    ids.owned = await insertImage({}, { standard: 1200, enhanced: 3000 });
    ids.formerlyOwned = await insertImage({}, { standard: 1300 });
    await db.insert(licenses).values([
      { buyerId: buyer.userId, imageId: ids.owned, licenseType: "standard", priceCents: 1200 },
      { buyerId: buyer.userId, imageId: ids.formerlyOwned, licenseType: "standard", priceCents: 1300, revokedAt: new Date(), revokedReason: "refund" },
    ]);
  });

  it("starts empty without creating a cart row", async () => {
    expect(await cart()).toEqual({ items: [], totalCents: 0, currency: "usd", count: 0 });
    expect(await db.select().from(carts).where(eq(carts.buyerId, buyer.userId))).toEqual([]);
  });

  it("adds an item with 201 and answers the cart, priced, with the thumbnail", async () => {
    const res = await add(ids.harbour as string, "standard");
    expect(res.status).toBe(201);
    expect((await res.json()) as Cart).toEqual({
      items: [
        {
          imageId: ids.harbour,
          licenseType: "standard",
          title: "Harbour at dawn",
          thumbnailUrl: `${DERIVATIVES}/images/h/thumb-450.webp`,
          amountCents: 1500,
          currency: "usd",
          unavailable: null,
        },
      ],
      totalCents: 1500,
      currency: "usd",
      count: 1,
    });
  });

  it("is idempotent: adding the same item again answers 200 and changes nothing", async () => {
    const res = await add(ids.harbour as string, "standard");
    expect(res.status).toBe(200);
    expect(((await res.json()) as Cart).count).toBe(1);
    expect(await itemsOf(buyer.userId)).toBe(1);
  });

  it("totals the items at the prices quote() gives, in the order they were added", async () => {
    expect((await add(ids.forest as string, "standard")).status).toBe(201);
    expect((await add(ids.harbour as string, "enhanced")).status).toBe(201);
    expect((await add(ids.protest as string, "editorial")).status).toBe(201);
    // A revoked license is no longer held: the buyer may buy it again.
    expect((await add(ids.formerlyOwned as string, "standard")).status).toBe(201);
    const body = await cart();
    const wanted = body.items.map((item) => ({ imageId: item.imageId, licenseType: item.licenseType as "standard" }));
    expect(wanted).toEqual([
      { imageId: ids.harbour, licenseType: "standard" },
      { imageId: ids.forest, licenseType: "standard" },
      { imageId: ids.harbour, licenseType: "enhanced" },
      { imageId: ids.protest, licenseType: "editorial" },
      { imageId: ids.formerlyOwned, licenseType: "standard" },
    ]);
    const quotes = await quote(db, wanted);
    expect(body.items.map((item) => item.amountCents)).toEqual(quotes.map((q) => q.amountCents));
    expect(body.totalCents).toBe(quotes.reduce((sum, q) => sum + (q.amountCents ?? 0), 0));
    expect(body.totalCents).toBe(1500 + 2500 + 4000 + 900 + 1300);
    expect(body.count).toBe(5);
  });

  it("refuses images that are not for sale with 404 and leaves the cart as it was", async () => {
    const before = await itemsOf(buyer.userId);
    for (const id of [ids.pending, ids.rejected, ids.withdrawn, ids.takenDown, crypto.randomUUID()]) {
      await expectProblem(await add(id as string, "standard"), 404, "not-found");
    }
    expect(await itemsOf(buyer.userId)).toBe(before);
  });

  it("refuses an editorial image under a non-editorial license with 422 naming licenseType, even when a price exists", async () => {
    const before = await itemsOf(buyer.userId);
    for (const type of ["standard", "enhanced"]) {
      const body = await expectProblem(await add(ids.protest as string, type), 422, "validation-failed");
      expect(body.errors?.map((e) => e.path)).toEqual(["licenseType"]);
    }
    expect(await itemsOf(buyer.userId)).toBe(before);
  });

  it("refuses a license the buyer already holds with 409, but not another license type of that image", async () => {
    const before = await itemsOf(buyer.userId);
    await expectProblem(await add(ids.owned as string, "standard"), 409, "conflict");
    expect(await itemsOf(buyer.userId)).toBe(before);
    expect((await add(ids.owned as string, "enhanced")).status).toBe(201);
  });

  it("refuses a license type without a price with 422 naming licenseType", async () => {
    // No test file sets prices in ISO 4217's "no currency" code, so nothing is priced in it.
    const noPrice = await insertImage();
    const error = await addToCart(db, buyer.userId, { imageId: noPrice, licenseType: "standard" }, "xxx").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).type).toBe("validation-failed");
    expect((error as ApiError).extra.errors).toEqual([{ path: "licenseType", message: "this image has no standard price" }]);
    expect(await db.select().from(carts).where(eq(carts.buyerId, buyer.userId))).toHaveLength(1);
  });

  it("lists an item that stopped being for sale as unavailable, without a price, out of the total", async () => {
    const fading = await insertImage({ title: "Soon withdrawn" }, { standard: 700 });
    expect((await add(fading, "standard")).status).toBe(201);
    const before = await cart();
    await db.update(images).set({ withdrawnAt: new Date() }).where(eq(images.id, fading));
    const after = await cart();
    const item = after.items.find((i) => i.imageId === fading);
    expect(item).toMatchObject({ amountCents: null, unavailable: "not-for-sale", title: "Soon withdrawn" });
    expect(after.totalCents).toBe(before.totalCents - 700);
    expect(after.count).toBe(before.count);
  });

  it("removes one item with 204, then answers 404 for it", async () => {
    const path = `/v1/cart/items/${ids.forest}/standard`;
    const before = await itemsOf(buyer.userId);
    expect((await api(path, { method: "DELETE", token: buyer.accessToken })).status).toBe(204);
    expect(await itemsOf(buyer.userId)).toBe(before - 1);
    expect((await cart()).items.some((i) => i.imageId === ids.forest)).toBe(false);
    await expectProblem(await api(path, { method: "DELETE", token: buyer.accessToken }), 404, "not-found");
  });

  it("never touches another buyer's cart", async () => {
    const other = await signUp("buyer");
    expect((await add(ids.forest as string, "standard", other.accessToken)).status).toBe(201);
    await expectProblem(await api(`/v1/cart/items/${ids.harbour}/standard`, { method: "DELETE", token: other.accessToken }), 404, "not-found");
    expect((await cart()).items.some((i) => i.imageId === ids.harbour && i.licenseType === "standard")).toBe(true);
    expect((await api("/v1/cart", { method: "DELETE", token: other.accessToken })).status).toBe(204);
    expect(await itemsOf(other.userId)).toBe(0);
    expect((await cart()).count).toBeGreaterThan(0);
  });

  it("empties the cart with 204", async () => {
    expect((await api("/v1/cart", { method: "DELETE", token: buyer.accessToken })).status).toBe(204);
    expect(await cart()).toEqual({ items: [], totalCents: 0, currency: "usd", count: 0 });
    expect(await itemsOf(buyer.userId)).toBe(0);
    expect((await api("/v1/cart", { method: "DELETE", token: buyer.accessToken })).status).toBe(204);
  });

  it("is for buyers only", async () => {
    const contributor = await signUp("contributor");
    await expectProblem(await api("/v1/cart", { token: contributor.accessToken }), 403, "forbidden");
    await expectProblem(await add(ids.harbour as string, "standard", contributor.accessToken), 403, "forbidden");
  });
});

describe("cart limits and concurrency", () => {
  it(`holds at most ${MAX_CART_ITEMS} items; re-adding one of them still answers 200`, async () => {
    const buyer = await signUp("buyer");
    const rows = await db
      .insert(images)
      .values(Array.from({ length: MAX_CART_ITEMS + 1 }, (_, i) => ({ contributorId, title: `Full cart ${i}`, status: "approved" as const, stage: "done" as const })))
      .returning({ id: images.id });
    await db.insert(licensePrices).values(rows.map((row) => ({ imageId: row.id, licenseType: "standard" as const, amountCents: 100 })));
    const [cartRow] = await db.insert(carts).values({ buyerId: buyer.userId }).returning({ id: carts.id });
    if (!cartRow) throw new Error("no cart");
    const [last, ...first] = rows;
    await db.insert(cartItems).values(first.map((row) => ({ cartId: cartRow.id, imageId: row.id, licenseType: "standard" as const })));

    const res = await api("/v1/cart", { method: "POST", token: buyer.accessToken, json: { imageId: last?.id, licenseType: "standard" } });
    await expectProblem(res, 422, "validation-failed");
    expect(await itemsOf(buyer.userId)).toBe(MAX_CART_ITEMS);
    const again = await api("/v1/cart", { method: "POST", token: buyer.accessToken, json: { imageId: first[0]?.id, licenseType: "standard" } });
    expect(again.status).toBe(200);
    const body = (await again.json()) as Cart;
    expect(body.count).toBe(MAX_CART_ITEMS);
    expect(body.totalCents).toBe(MAX_CART_ITEMS * 100);
  });

  it("makes one cart when first adds race", async () => {
    const buyer = await signUp("buyer");
    const ids = await Promise.all(Array.from({ length: 5 }, () => insertImage({}, { standard: 1000 })));
    const answers = await Promise.all(ids.map((imageId) => api("/v1/cart", { method: "POST", token: buyer.accessToken, json: { imageId, licenseType: "standard" } })));
    expect(answers.map((res) => res.status)).toEqual([201, 201, 201, 201, 201]);
    expect(await db.select().from(carts).where(eq(carts.buyerId, buyer.userId))).toHaveLength(1);
    const stored = await db.select({ imageId: cartItems.imageId }).from(cartItems).where(inArray(cartItems.imageId, ids));
    expect(stored.map((row) => row.imageId).sort()).toEqual([...ids].sort());
  });
});
