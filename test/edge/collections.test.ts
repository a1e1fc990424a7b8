import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectionItems, collections, images, licensePrices, users } from "../../db/schema";
import { addToCollection, type CollectionView, MAX_COLLECTION_ITEMS, MAX_COLLECTIONS, type SharedCollectionView } from "../../edge/services/catalogue/collections";
import { api, expectProblem, signUp, testDb } from "./support";

/** Collections (issue 23): boards through the API, and an attacker's view of them. */

const { db, pool } = testDb();
afterAll(() => pool.end());

let contributorId: string;
async function insertImage(values: Partial<typeof images.$inferInsert> = {}, standardCents?: number) {
  const [row] = await db
    .insert(images)
    .values({ contributorId, title: `Board image ${crypto.randomUUID().slice(0, 8)}`, status: "approved", stage: "done", nsfwScore: 0, publishedAt: new Date(), ...values })
    .returning({ id: images.id });
  if (!row) throw new Error("insert failed");
  if (standardCents !== undefined) await db.insert(licensePrices).values({ imageId: row.id, licenseType: "standard", amountCents: standardCents });
  return row.id;
}

let owner: Awaited<ReturnType<typeof signUp>>;
let stranger: Awaited<ReturnType<typeof signUp>>;
const ids: Record<string, string> = {};

beforeAll(async () => {
  const [user] = await db
    .insert(users)
    .values({ email: `board-contributor-${crypto.randomUUID()}@example.test`, passwordHash: "unused", role: "contributor", displayName: "Board Contributor" })
    .returning({ id: users.id });
  if (!user) throw new Error("no contributor");
  contributorId = user.id;
  owner = await signUp("buyer");
  stranger = await signUp("buyer");
  ids.a = await insertImage({}, 1200);
  ids.b = await insertImage({}, 1500);
  ids.c = await insertImage({}, 900);
  ids.pending = await insertImage({ status: "pending_review", publishedAt: null });
});

const create = async (name: string, token = owner.accessToken) => {
  const res = await api("/v1/collections", { method: "POST", token, json: { name } });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as CollectionView;
};
const board = async (id: string, token = owner.accessToken) => {
  const res = await api(`/v1/collections/${id}`, { token });
  expect(res.status).toBe(200);
  return (await res.json()) as CollectionView;
};
const put = (id: string, imageId: string, json: object = {}, token = owner.accessToken) => api(`/v1/collections/${id}/items/${imageId}`, { method: "PUT", token, json });

describe("collections", () => {
  it("creates a private board, adds images at the end (idempotently), renames, reorders, removes and deletes it", async () => {
    const created = await create("Harbour mood");
    expect(created).toMatchObject({ name: "Harbour mood", description: null, itemCount: 0, shareToken: null, items: [] });
    expect((await put(created.id, ids.a as string)).status).toBe(201);
    expect((await put(created.id, ids.b as string, { note: "for the cover" })).status).toBe(201);
    expect((await put(created.id, ids.a as string)).status).toBe(200);
    let view = await board(created.id);
    expect(view.items.map((i) => [i.imageId, i.note])).toEqual([
      [ids.a, null],
      [ids.b, "for the cover"],
    ]);
    expect(view.items[0]?.thumbnailUrl === null || typeof view.items[0]?.thumbnailUrl === "string").toBe(true);

    const renamed = await api(`/v1/collections/${created.id}`, { method: "PATCH", token: owner.accessToken, json: { name: "Harbour, final", description: "Shortlist" } });
    expect(((await renamed.json()) as CollectionView).name).toBe("Harbour, final");

    expect((await put(created.id, ids.c as string)).status).toBe(201);
    const reordered = await api(`/v1/collections/${created.id}/order`, { method: "PUT", token: owner.accessToken, json: { imageIds: [ids.c, ids.a, ids.b] } });
    expect(reordered.status).toBe(200);
    expect(((await reordered.json()) as CollectionView).items.map((i) => i.imageId)).toEqual([ids.c, ids.a, ids.b]);
    // A new image still goes last after a reorder.
    const d = await insertImage();
    await put(created.id, d);
    expect((await board(created.id)).items.map((i) => i.imageId)).toEqual([ids.c, ids.a, ids.b, d]);

    expect((await api(`/v1/collections/${created.id}/items/${ids.a}`, { method: "DELETE", token: owner.accessToken })).status).toBe(204);
    view = await board(created.id);
    expect(view.items.map((i) => i.imageId)).toEqual([ids.c, ids.b, d]);
    const listed = (await (await api("/v1/collections", { token: owner.accessToken })).json()) as { items: { id: string; itemCount: number }[]; max: number };
    expect(listed.items.find((b) => b.id === created.id)?.itemCount).toBe(3);
    expect(listed.max).toBe(MAX_COLLECTIONS);

    expect((await api(`/v1/collections/${created.id}`, { method: "DELETE", token: owner.accessToken })).status).toBe(204);
    await expectProblem(await api(`/v1/collections/${created.id}`, { token: owner.accessToken }), 404, "not-found");
  });

  it("refuses what does not belong: unlisted images, bad orders, full boards", async () => {
    const created = await create("Rules");
    await expectProblem(await put(created.id, ids.pending as string), 404, "not-found");
    await expectProblem(await put(created.id, crypto.randomUUID()), 404, "not-found");
    await put(created.id, ids.a as string);
    await put(created.id, ids.b as string);
    for (const imageIds of [[ids.a], [ids.a, ids.a], [ids.a, ids.c], [ids.a, ids.b, ids.c]]) {
      const res = await api(`/v1/collections/${created.id}/order`, { method: "PUT", token: owner.accessToken, json: { imageIds } });
      await expectProblem(res, 422, "validation-failed");
    }
    await expectProblem(await api(`/v1/collections/${created.id}`, { method: "PATCH", token: owner.accessToken, json: { description: "no name" } }), 422, "validation-failed");
    await expectProblem(await api("/v1/collections", { method: "POST", token: owner.accessToken, json: { name: "x".repeat(101) } }), 422, "validation-failed");
    // The item limit, reached with rows written directly.
    const filler = await create("Full");
    const many = await db
      .insert(images)
      .values(Array.from({ length: MAX_COLLECTION_ITEMS }, (_, i) => ({ contributorId, title: `Filler ${i}`, status: "approved" as const, publishedAt: new Date() })))
      .returning({ id: images.id });
    await db.insert(collectionItems).values(many.map((m, i) => ({ collectionId: filler.id, imageId: m.id, position: i })));
    await expectProblem(await put(filler.id, ids.a as string), 422, "validation-failed");
    await db.execute(sql`delete from images where id in (select image_id from collection_items where collection_id = ${filler.id})`);
  });

  it("an attacker sees nothing of another user's board: every route answers 404, as for an unknown id", async () => {
    const mine = await create("Private");
    await put(mine.id, ids.a as string);
    const t = stranger.accessToken;
    await expectProblem(await api(`/v1/collections/${mine.id}`, { token: t }), 404, "not-found");
    await expectProblem(await api(`/v1/collections/${mine.id}`, { method: "PATCH", token: t, json: { name: "mine now" } }), 404, "not-found");
    await expectProblem(await put(mine.id, ids.b as string, {}, t), 404, "not-found");
    await expectProblem(await api(`/v1/collections/${mine.id}/items/${ids.a}`, { method: "DELETE", token: t }), 404, "not-found");
    await expectProblem(await api(`/v1/collections/${mine.id}/order`, { method: "PUT", token: t, json: { imageIds: [ids.a] } }), 404, "not-found");
    await expectProblem(await api(`/v1/collections/${mine.id}/share`, { method: "POST", token: t }), 404, "not-found");
    await expectProblem(await api(`/v1/collections/${mine.id}/share`, { method: "DELETE", token: t }), 404, "not-found");
    await expectProblem(await api(`/v1/collections/${mine.id}/license-all`, { method: "POST", token: t, json: { licenseType: "standard" } }), 404, "not-found");
    await expectProblem(await api(`/v1/collections/${mine.id}`, { method: "DELETE", token: t }), 404, "not-found");
    // Nothing changed.
    const view = await board(mine.id);
    expect(view).toMatchObject({ name: "Private", shareToken: null });
    expect(view.items.map((i) => i.imageId)).toEqual([ids.a]);
    const theirs = (await (await api("/v1/collections", { token: t })).json()) as { items: { id: string }[] };
    expect(theirs.items.map((b) => b.id)).not.toContain(mine.id);
  });

  it("shares read-only by an unguessable link; hidden images drop out of the shared view; a revoked or replaced link is dead", async () => {
    const created = await create("Shared");
    for (const id of [ids.a, ids.b, ids.c]) await put(created.id, id as string, { note: "private note" });
    const shared = await api(`/v1/collections/${created.id}/share`, { method: "POST", token: owner.accessToken });
    expect(shared.status).toBe(201);
    const token = ((await shared.json()) as CollectionView).shareToken as string;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const view = async (tok: string) => api(`/v1/shared/collections/${tok}`);
    const anonymous = await view(token);
    expect(anonymous.status).toBe(200);
    const body = (await anonymous.json()) as SharedCollectionView;
    expect(body).toMatchObject({ name: "Shared", ownerName: "Test buyer" });
    expect(body.items.map((i) => i.imageId)).toEqual([ids.a, ids.b, ids.c]);
    expect(JSON.stringify(body)).not.toContain("private note");

    // Taken down and withdrawn images leave the shared view at once; the owner still sees them, marked.
    await db
      .update(images)
      .set({ takenDownAt: new Date() })
      .where(eq(images.id, ids.b as string));
    await db
      .update(images)
      .set({ withdrawnAt: new Date() })
      .where(eq(images.id, ids.c as string));
    try {
      expect(((await (await view(token)).json()) as SharedCollectionView).items.map((i) => i.imageId)).toEqual([ids.a]);
      const own = await board(created.id);
      expect(own.items.map((i) => [i.imageId, i.unavailable, i.thumbnailUrl === null])).toEqual([
        [ids.a, false, own.items[0]?.thumbnailUrl === null],
        [ids.b, true, true],
        [ids.c, true, true],
      ]);
    } finally {
      await db.update(images).set({ takenDownAt: null, withdrawnAt: null }).where(sql`${images.id} in (${ids.b}, ${ids.c})`);
    }

    // A new link replaces the old one; revoking kills it; writes through the shared path do not exist.
    const again = ((await (await api(`/v1/collections/${created.id}/share`, { method: "POST", token: owner.accessToken })).json()) as CollectionView).shareToken as string;
    expect(again).not.toBe(token);
    await expectProblem(await view(token), 404, "not-found");
    expect((await view(again)).status).toBe(200);
    expect((await api(`/v1/collections/${created.id}/share`, { method: "DELETE", token: owner.accessToken })).status).toBe(204);
    await expectProblem(await view(again), 404, "not-found");
    await expectProblem(await view("not-a-token"), 422, "validation-failed");
    await expectProblem(await view("A".repeat(43)), 404, "not-found");
    const [row] = await db.select({ shareToken: collections.shareToken }).from(collections).where(eq(collections.id, created.id));
    expect(row?.shareToken).toBeNull();
  });

  it("license all puts every image for sale in the cart and says why the others were skipped", async () => {
    const created = await create("To buy");
    const unpriced = await insertImage();
    for (const id of [ids.a, ids.b, unpriced]) await put(created.id, id as string);
    await db
      .update(images)
      .set({ withdrawnAt: new Date() })
      .where(eq(images.id, ids.b as string));
    try {
      const res = await api(`/v1/collections/${created.id}/license-all`, { method: "POST", token: owner.accessToken, json: { licenseType: "standard" } });
      expect(res.status, await res.clone().text()).toBe(200);
      const body = (await res.json()) as { added: number; skipped: { imageId: string; reason: string }[]; cart: { items: { imageId: string }[] } };
      expect(body.added).toBe(1);
      expect(body.skipped.map((s) => s.imageId).sort()).toEqual([ids.b, unpriced].sort());
      expect(body.cart.items.map((i) => i.imageId)).toContain(ids.a);
      await expectProblem(
        await api(`/v1/collections/${created.id}/license-all`, { method: "POST", token: owner.accessToken, json: { licenseType: "platinum" } }),
        422,
        "validation-failed",
      );
    } finally {
      await db
        .update(images)
        .set({ withdrawnAt: null })
        .where(eq(images.id, ids.b as string));
      await api("/v1/cart", { method: "DELETE", token: owner.accessToken });
    }
  });

  it("keeps a user to the board limit even when creations race", async () => {
    const racer = await signUp("buyer");
    await db.insert(collections).values(Array.from({ length: MAX_COLLECTIONS - 1 }, (_, i) => ({ ownerId: racer.userId, name: `Board ${i}` })));
    const results = await Promise.all([0, 1, 2].map((i) => api("/v1/collections", { method: "POST", token: racer.accessToken, json: { name: `Race ${i}` } })));
    expect(results.map((r) => r.status).sort()).toEqual([201, 422, 422]);
    const [n] = await db.select({ n: sql<number>`count(*)::int` }).from(collections).where(eq(collections.ownerId, racer.userId));
    expect(n?.n).toBe(MAX_COLLECTIONS);
  });

  it("service: adding to another user's board is refused at the service too", async () => {
    const mine = await create("Service");
    await expect(addToCollection(db, stranger.userId, mine.id, ids.a as string, {})).rejects.toMatchObject({ type: "not-found" });
  });
});
