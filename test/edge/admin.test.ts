import { env } from "cloudflare:test";
import { and, eq, isNull } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobMessage } from "../../common/jobs";
import { auditLog, images, licensePrices, licenses, users } from "../../db/schema";
import { readConfig } from "../../edge/config";
import type { AuditLogPage } from "../../edge/services/admin/audit";
import { recordDeadLetter } from "../../edge/services/admin/dead-letters";
import type { Health } from "../../edge/services/admin/health";
import type { ModerationItem, ModerationOutcome } from "../../edge/services/admin/moderation";
import type { ReprocessEnqueued } from "../../edge/services/admin/reprocess";
import type { PriceChangeResult, PriceList } from "../../edge/services/commerce/prices";
import { api, expectProblem, signUp, testDb, workerWith } from "./support";

/** Moderation, takedowns, the audit log and the price list, on rows written straight to the database. */

const { db, pool } = testDb();
afterAll(() => pool.end());

const DERIVATIVES = readConfig(env).DERIVATIVES_PUBLIC_URL.replace(/\/+$/, "");
// Defaults are set in a currency no other test file prices in, so the marketplace's usd defaults stay as they are.
const CURRENCY = "xba";

let admin: Awaited<ReturnType<typeof signUp>>;
let secondAdmin: Awaited<ReturnType<typeof signUp>>;
let contributorId: string;
const contributorName = `Moderated Studio ${crypto.randomUUID().slice(0, 8)}`;

async function insertImage(values: Partial<typeof images.$inferInsert> = {}) {
  const [row] = await db
    .insert(images)
    .values({ contributorId, title: `Admin image ${crypto.randomUUID().slice(0, 8)}`, status: "pending_review", stage: "done", ...values })
    .returning({ id: images.id });
  if (!row) throw new Error("insert failed");
  return row.id;
}

const post = (path: string, json: unknown, token = admin.accessToken) => api(path, { method: "POST", token, json });
const auditFor = (targetId: string) => db.select().from(auditLog).where(eq(auditLog.targetId, targetId));
const imageRow = async (id: string) => (await db.select().from(images).where(eq(images.id, id)))[0];

beforeAll(async () => {
  [admin, secondAdmin] = await Promise.all([signUp("admin"), signUp("admin")]);
  const [user] = await db
    .insert(users)
    .values({ email: `moderated-${crypto.randomUUID()}@example.test`, passwordHash: "unused", role: "contributor", displayName: contributorName })
    .returning({ id: users.id });
  if (!user) throw new Error("no contributor");
  contributorId = user.id;
});

describe("GET /v1/admin/moderation/queue", () => {
  it("lists images pending review oldest first, a page at a time, with what a moderator needs", async () => {
    const original = await insertImage({ status: "approved", title: "The original" });
    // Older than anything other test files insert, so they lead the queue in this order.
    const ids = [
      await insertImage({ title: "Queued third", createdAt: new Date("2001-01-03T00:00:00Z") }),
      await insertImage({
        title: "Queued first",
        createdAt: new Date("2001-01-01T00:00:00Z"),
        nsfwScore: 0.42,
        derivativeKeys: { thumb450: "images/q/thumb-450.webp", preview: "images/q/preview-1200.webp" },
      }),
      await insertImage({ title: "Queued second", createdAt: new Date("2001-01-02T00:00:00Z"), duplicateOf: original, editorial: true, statusReason: "near duplicate" }),
    ];
    await insertImage({ title: "Approved long ago", status: "approved", createdAt: new Date("2000-06-01T00:00:00Z") });

    const seen: ModerationItem[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 100; pages++) {
      const res = await api(`/v1/admin/moderation/queue?limit=2${cursor ? `&cursor=${cursor}` : ""}`, { token: admin.accessToken });
      expect(res.status).toBe(200);
      const page = (await res.json()) as { items: ModerationItem[]; nextCursor: string | null };
      seen.push(...page.items);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    expect(new Set(seen.map((item) => item.id)).size).toBe(seen.length);
    const order = seen.map((item) => `${item.createdAt} ${item.id}`);
    expect(order).toEqual([...order].sort());
    expect(seen.slice(0, 3).map((item) => item.title)).toEqual(["Queued first", "Queued second", "Queued third"]);
    expect(seen.every((item) => item.title !== "Approved long ago" && item.title !== "The original")).toBe(true);
    expect(seen[0]).toEqual({
      id: ids[1],
      title: "Queued first",
      contributor: { id: contributorId, displayName: contributorName },
      statusReason: null,
      nsfwScore: expect.closeTo(0.42, 5),
      duplicateOf: null,
      editorial: false,
      // Not listed: presigned GETs of the private copies, never the public URL.
      thumbnailUrl: expect.stringMatching(/\/renditions\/images\/q\/thumb-450\.webp\?.*X-Amz-Signature=/),
      previewUrl: expect.stringMatching(/\/renditions\/images\/q\/preview-1200\.webp\?.*X-Amz-Signature=/),
      createdAt: "2001-01-01T00:00:00.000Z",
    });
    expect(seen[1]).toMatchObject({ duplicateOf: original, editorial: true, statusReason: "near duplicate", thumbnailUrl: null });
    expect(seen[0]?.thumbnailUrl?.startsWith(DERIVATIVES)).toBe(false);
  });
});

describe("moderation actions", () => {
  it("approves an image pending review: approved, reason cleared, published now, audited with the actor", async () => {
    const id = await insertImage({ statusReason: "nsfw score 0.3" });
    const before = Date.now();
    const res = await post(`/v1/admin/moderation/${id}/approve`, { note: "looks fine" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as ModerationOutcome;
    expect(body.image).toMatchObject({ id, status: "approved", statusReason: null, takenDownAt: null });
    const row = await imageRow(id);
    expect(row).toMatchObject({ status: "approved", statusReason: null });
    expect(row?.publishedAt?.getTime()).toBeGreaterThanOrEqual(before - 5000);
    const entries = await auditFor(id);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      actorId: admin.userId,
      action: "moderation.approve",
      targetType: "image",
      detail: { from: "pending_review", to: "approved", note: "looks fine" },
    });
  });

  it("keeps the first publication date when an image is approved again after review", async () => {
    const publishedAt = new Date("2024-05-01T12:00:00.000Z");
    const id = await insertImage({ publishedAt });
    expect((await post(`/v1/admin/moderation/${id}/approve`, {})).status).toBe(200);
    expect((await imageRow(id))?.publishedAt?.toISOString()).toBe(publishedAt.toISOString());
  });

  it("rejects an image pending review with the reason, audited", async () => {
    const id = await insertImage();
    const res = await post(`/v1/admin/moderation/${id}/reject`, { reason: "Visible watermark of another agency" }, secondAdmin.accessToken);
    expect(res.status).toBe(200);
    expect(((await res.json()) as ModerationOutcome).image).toMatchObject({ status: "rejected", statusReason: "Visible watermark of another agency" });
    expect(await imageRow(id)).toMatchObject({ status: "rejected", statusReason: "Visible watermark of another agency", takenDownAt: null });
    const entries = await auditFor(id);
    expect(entries.map((e) => [e.action, e.actorId])).toEqual([["moderation.reject", secondAdmin.userId]]);
    expect(entries[0]?.detail).toMatchObject({ reason: "Visible watermark of another agency" });
  });

  it("refuses a rejection without a reason of 3 to 500 characters, changing nothing", async () => {
    const id = await insertImage();
    for (const body of [{}, { reason: "no" }, { reason: "x".repeat(501) }]) {
      const problem = await expectProblem(await post(`/v1/admin/moderation/${id}/reject`, body), 422, "validation-failed");
      expect(problem.errors?.map((e) => e.path)).toContain("reason");
    }
    expect((await imageRow(id))?.status).toBe("pending_review");
    expect(await auditFor(id)).toEqual([]);
  });

  it("approves and rejects only from pending review (409), and answers 404 for an unknown image", async () => {
    const approved = await insertImage({ status: "approved" });
    const processing = await insertImage({ status: "processing", stage: "processing" });
    const rejected = await insertImage({ status: "rejected", statusReason: "blurry" });
    for (const id of [approved, processing, rejected]) {
      await expectProblem(await post(`/v1/admin/moderation/${id}/approve`, {}), 409, "conflict");
      await expectProblem(await post(`/v1/admin/moderation/${id}/reject`, { reason: "Not good enough" }), 409, "conflict");
      expect(await auditFor(id)).toEqual([]);
    }
    expect((await imageRow(rejected))?.statusReason).toBe("blurry");
    const unknown = crypto.randomUUID();
    await expectProblem(await post(`/v1/admin/moderation/${unknown}/approve`, {}), 404, "not-found");
    await expectProblem(await post(`/v1/admin/moderation/${unknown}/reject`, { reason: "Not good enough" }), 404, "not-found");
    await expectProblem(await post(`/v1/admin/images/${unknown}/takedown`, { reason: "Copyright claim" }), 404, "not-found");
  });

  it("lets only one of two admins acting at once succeed", async () => {
    const id = await insertImage();
    const [a, b] = await Promise.all([
      post(`/v1/admin/moderation/${id}/approve`, {}),
      post(`/v1/admin/moderation/${id}/reject`, { reason: "Duplicate of an existing listing" }, secondAdmin.accessToken),
    ]);
    expect([a?.status, b?.status].sort()).toEqual([200, 409]);
    const entries = await auditFor(id);
    expect(entries).toHaveLength(1);
    expect((await imageRow(id))?.status).toBe(entries[0]?.action === "moderation.approve" ? "approved" : "rejected");
  });

  it("takes an approved image down: rejected with the reason and a takedown date; licenses stay; a second takedown is a 409", async () => {
    const id = await insertImage({ status: "approved", publishedAt: new Date() });
    const buyer = await signUp("buyer");
    await db.insert(licenses).values({ buyerId: buyer.userId, imageId: id, licenseType: "standard", priceCents: 1000 });
    const res = await post(`/v1/admin/images/${id}/takedown`, { reason: "DMCA notice 2026-114" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as ModerationOutcome;
    expect(body.image).toMatchObject({ status: "rejected", statusReason: "DMCA notice 2026-114", takenDownAt: expect.stringMatching(/^\d{4}-/) });
    const row = await imageRow(id);
    expect(row?.takenDownAt).toBeInstanceOf(Date);
    expect(await db.select().from(licenses).where(eq(licenses.imageId, id))).toHaveLength(1);
    // The public page no longer shows it.
    expect((await api(`/v1/images/${id}`)).status).toBe(404);

    const again = await expectProblem(await post(`/v1/admin/images/${id}/takedown`, { reason: "DMCA notice 2026-114" }), 409, "conflict");
    expect(again).toMatchObject({ status: 409, imageStatus: "rejected", takenDown: true });
    // Nor can a taken-down image be approved back through review.
    await expectProblem(await post(`/v1/admin/moderation/${id}/approve`, {}), 409, "conflict");
    const entries = await auditFor(id);
    expect(entries.map((e) => [e.action, e.actorId])).toEqual([["moderation.takedown", admin.userId]]);
    expect(entries[0]?.detail).toMatchObject({ from: "approved", to: "rejected", reason: "DMCA notice 2026-114" });
  });

  it("refuses to take down an image that is not approved", async () => {
    for (const status of ["pending_review", "rejected", "processing"] as const) {
      const id = await insertImage({ status });
      await expectProblem(await post(`/v1/admin/images/${id}/takedown`, { reason: "Copyright claim" }), 409, "conflict");
      expect((await imageRow(id))?.takenDownAt).toBeNull();
    }
  });
});

describe("GET /v1/admin/audit-log", () => {
  it("lists entries newest first with filters, paging by id without duplicates", async () => {
    const ids = [await insertImage(), await insertImage(), await insertImage()];
    for (const id of ids) expect((await post(`/v1/admin/moderation/${id}/approve`, {}, secondAdmin.accessToken)).status).toBe(200);
    const list = async (query: string) => {
      const res = await api(`/v1/admin/audit-log?${query}`, { token: admin.accessToken });
      expect(res.status).toBe(200);
      return (await res.json()) as AuditLogPage;
    };
    const byTarget = await list(`targetId=${ids[1]}`);
    expect(byTarget.items.map((e) => [e.action, e.actorId, e.targetId])).toEqual([["moderation.approve", secondAdmin.userId, ids[1]]]);

    const seen: AuditLogPage["items"] = [];
    let cursor: string | null = null;
    do {
      const page: AuditLogPage = await list(`actorId=${secondAdmin.userId}&action=moderation.approve&limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen.every((e) => e.actorId === secondAdmin.userId && e.action === "moderation.approve")).toBe(true);
    const entryIds = seen.map((e) => e.id);
    expect(entryIds).toEqual([...entryIds].sort((a, b) => b - a));
    expect(new Set(entryIds).size).toBe(entryIds.length);
    expect(seen.slice(0, 3).map((e) => e.targetId)).toEqual([...ids].reverse());
    const direct = await db
      .select({ id: auditLog.id })
      .from(auditLog)
      .where(and(eq(auditLog.actorId, secondAdmin.userId), eq(auditLog.action, "moderation.approve")));
    expect(entryIds.length).toBe(direct.length);
  });

  it("refuses a cursor it did not issue", async () => {
    await expectProblem(await api("/v1/admin/audit-log?cursor=bm90LWEtY3Vyc29y", { token: admin.accessToken }), 422, "validation-failed");
  });
});

describe("prices", () => {
  const put = (json: Record<string, unknown>, token = admin.accessToken) => api("/v1/admin/prices", { method: "PUT", token, json });

  it("creates, then updates, the one default per license type and currency, audited with old and new amounts", async () => {
    const created = await put({ licenseType: "standard", amountCents: 2900, currency: CURRENCY });
    expect(created.status).toBe(200);
    const first = (await created.json()) as PriceChangeResult;
    expect(first).toMatchObject({ price: { imageId: null, licenseType: "standard", currency: CURRENCY, amountCents: 2900, active: true }, previousAmountCents: null });

    const updated = (await (await put({ licenseType: "standard", amountCents: 3400, currency: CURRENCY })).json()) as PriceChangeResult;
    expect(updated).toMatchObject({ price: { id: first.price.id, amountCents: 3400 }, previousAmountCents: 2900 });
    const rows = await db
      .select()
      .from(licensePrices)
      .where(and(isNull(licensePrices.imageId), eq(licensePrices.licenseType, "standard"), eq(licensePrices.currency, CURRENCY)));
    expect(rows.map((r) => r.amountCents)).toEqual([3400]);

    const entries = await auditFor(first.price.id);
    expect(
      entries.map((e) => [e.action, e.actorId, (e.detail as { oldAmountCents: number | null }).oldAmountCents, (e.detail as { newAmountCents: number }).newAmountCents]),
    ).toEqual([
      ["price.update", admin.userId, null, 2900],
      ["price.update", admin.userId, 2900, 3400],
    ]);
  });

  it("sets one image's own price in usd by default, re-activating an inactive one, and lists it", async () => {
    const id = await insertImage({ status: "approved", title: "Priced image" });
    await db.insert(licensePrices).values({ imageId: id, licenseType: "enhanced", amountCents: 100, active: false });
    const res = await put({ licenseType: "enhanced", amountCents: 12_900, imageId: id });
    expect(res.status).toBe(200);
    expect((await res.json()) as PriceChangeResult).toMatchObject({ price: { imageId: id, currency: "usd", amountCents: 12_900, active: true }, previousAmountCents: 100 });

    const list = await api(`/v1/admin/prices?imageId=${id}`, { token: admin.accessToken });
    expect(list.status).toBe(200);
    const body = (await list.json()) as PriceList;
    expect(body.overrides).toEqual([expect.objectContaining({ imageId: id, imageTitle: "Priced image", licenseType: "enhanced", amountCents: 12_900, active: true })]);
    expect(body.defaults.every((p) => p.imageId === null)).toBe(true);
    expect(body.defaults.filter((p) => p.currency === CURRENCY).map((p) => [p.licenseType, p.amountCents])).toEqual([["standard", 3400]]);
  });

  it("refuses a non-editorial price for an editorial image (422) and an unknown image (404), changing nothing", async () => {
    const editorial = await insertImage({ status: "approved", editorial: true });
    const problem = await expectProblem(await put({ licenseType: "standard", amountCents: 1000, imageId: editorial }), 422, "validation-failed");
    expect(problem.errors?.map((e) => e.path)).toEqual(["licenseType"]);
    expect((await put({ licenseType: "editorial", amountCents: 1000, imageId: editorial })).status).toBe(200);
    await expectProblem(await put({ licenseType: "standard", amountCents: 1000, imageId: crypto.randomUUID() }), 404, "not-found");
    expect((await db.select().from(licensePrices).where(eq(licensePrices.imageId, editorial))).map((p) => p.licenseType)).toEqual(["editorial"]);
  });

  it("refuses amounts outside 1 to 10,000,000 whole cents and malformed currencies", async () => {
    for (const [body, path] of [
      [{ licenseType: "standard", amountCents: 0, currency: CURRENCY }, "amountCents"],
      [{ licenseType: "standard", amountCents: 10_000_001, currency: CURRENCY }, "amountCents"],
      [{ licenseType: "standard", amountCents: 19.99, currency: CURRENCY }, "amountCents"],
      [{ licenseType: "standard", amountCents: "1000", currency: CURRENCY }, "amountCents"],
      [{ licenseType: "standard", amountCents: 1000, currency: "USD" }, "currency"],
      [{ licenseType: "premium", amountCents: 1000, currency: CURRENCY }, "licenseType"],
    ] as const) {
      const problem = await expectProblem(await put(body), 422, "validation-failed");
      expect(problem.errors?.map((e) => e.path)).toContain(path);
    }
    const [row] = await db
      .select()
      .from(licensePrices)
      .where(and(isNull(licensePrices.imageId), eq(licensePrices.licenseType, "standard"), eq(licensePrices.currency, CURRENCY)));
    expect(row?.amountCents).toBe(3400);
  });
});

describe("POST /v1/admin/reprocess", () => {
  it("queues the steps for processed images only, and audits who asked", async () => {
    const processed = await insertImage({ status: "approved" });
    const rejected = await insertImage({ status: "rejected" });
    const unprocessed = await insertImage({ stage: "awaiting_upload", status: "processing" });
    const res = await post("/v1/admin/reprocess", { steps: ["embedding", "tags"], imageIds: [processed, rejected, unprocessed] });
    expect(res.status).toBe(202);
    expect((await res.json()) as ReprocessEnqueued).toEqual({ enqueued: 2, next: null });
    const [entry] = await db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.action, "images.reprocess"), eq(auditLog.actorId, admin.userId)));
    expect(entry?.detail).toMatchObject({ steps: ["embedding", "tags"], selection: { imageIds: 3 }, enqueued: 2 });
    // Queuing changes no listing.
    expect((await imageRow(rejected))?.status).toBe("rejected");
    expect((await imageRow(unprocessed))?.stage).toBe("awaiting_upload");
  });

  it("refuses a request without steps, with an unknown step, or naming both images and all", async () => {
    const id = await insertImage({ status: "approved" });
    await expectProblem(await post("/v1/admin/reprocess", { imageIds: [id] }), 422, "validation-failed");
    await expectProblem(await post("/v1/admin/reprocess", { steps: [], imageIds: [id] }), 422, "validation-failed");
    await expectProblem(await post("/v1/admin/reprocess", { steps: ["status"], imageIds: [id] }), 422, "validation-failed");
    await expectProblem(await post("/v1/admin/reprocess", { steps: ["colours"], imageIds: [id], all: true }), 422, "validation-failed");
    await expectProblem(await post("/v1/admin/reprocess", { steps: ["colours"], imageIds: ["not-a-uuid"] }), 422, "validation-failed");
    await expectProblem(await post("/v1/admin/reprocess", { steps: ["colours"], all: false }), 422, "validation-failed");
    const contributor = await signUp("contributor");
    await expectProblem(await post("/v1/admin/reprocess", { steps: ["colours"], all: true }, contributor.accessToken), 403, "forbidden");
  });

  it("a dead reprocess job is recorded without failing the image, a dead upload job fails it", async () => {
    const listed = await insertImage({ status: "approved" });
    await recordDeadLetter(db, jobMessage("image.reprocess", { imageId: listed, steps: ["colours"] }), "gave up after 3 attempt(s)");
    expect((await imageRow(listed))?.status).toBe("approved");
    const processing = await insertImage({ status: "processing", stage: "processing" });
    await recordDeadLetter(db, jobMessage("image.process", { imageId: processing }), "gave up after 3 attempt(s)");
    expect(await imageRow(processing)).toMatchObject({ status: "processing_failed", stage: "failed" });
  });
});

describe("access", () => {
  it("refuses buyers and contributors with 403 on every admin route", async () => {
    const id = await insertImage();
    for (const role of ["buyer", "contributor"] as const) {
      const user = await signUp(role);
      await expectProblem(await api("/v1/admin/moderation/queue", { token: user.accessToken }), 403, "forbidden");
      await expectProblem(await post(`/v1/admin/moderation/${id}/approve`, {}, user.accessToken), 403, "forbidden");
      await expectProblem(await post(`/v1/admin/moderation/${id}/reject`, { reason: "Not good enough" }, user.accessToken), 403, "forbidden");
      await expectProblem(await post(`/v1/admin/images/${id}/takedown`, { reason: "Not good enough" }, user.accessToken), 403, "forbidden");
      await expectProblem(await api("/v1/admin/audit-log", { token: user.accessToken }), 403, "forbidden");
      await expectProblem(await api("/v1/admin/prices", { token: user.accessToken }), 403, "forbidden");
      await expectProblem(await api("/v1/admin/prices", { method: "PUT", token: user.accessToken, json: { licenseType: "standard", amountCents: 1 } }), 403, "forbidden");
    }
    expect((await imageRow(id))?.status).toBe("pending_review");
  });
});

describe("GET /v1/health", () => {
  it("answers 503 with every dependency's state when the database cannot be reached", async () => {
    // Nothing listens on port 9: the database check fails at once, and so does the worker's (its heartbeat is a row).
    const target = workerWith({ DATABASE_URL: "postgres://nobody:nothing@127.0.0.1:9/none" });
    const res = await api("/v1/health", { target });
    expect(res.status).toBe(503);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const body = (await res.json()) as Health;
    expect(body.status).toBe("down");
    expect(Object.keys(body.checks)).toEqual(["database", "r2", "queue", "worker", "cache"]);
    expect(body.checks.database).toMatchObject({ state: "down" });
    expect(body.checks.r2).toMatchObject({ state: "ok" });
  });
});
