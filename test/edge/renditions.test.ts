import { env, SELF } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DERIVATIVE_CACHE_CONTROL, derivativeKey, PRIVATE_RENDITION_CACHE_CONTROL, privateRenditionKey, RENDITIONS, type RenditionName } from "../../common/images";
import { createLogger, log } from "../../common/log";
import { cartItems, carts, images } from "../../db/schema";
import { publicUrls } from "../../edge/adapters/public-urls";
import { readConfig } from "../../edge/config";
import type { PortfolioPage } from "../../edge/services/catalogue/portfolio";
import { purgeFromCdn, type ReconcileReport, reconcileRecentRenditions } from "../../edge/services/catalogue/renditions";
import { api, expectProblem, signUp, testDb } from "./support";

/**
 * Renditions of an image that is not listed are never publicly reachable: the public bucket (what
 * DERIVATIVES_PUBLIC_URL serves) holds copies only while an image is approved, not withdrawn and
 * not taken down; contributors and admins see unlisted images through presigned URLs of the
 * private copies. Images are written straight to the database with their objects put in the R2
 * bindings, as the worker (private copies) or an older worker (public copies only) left them.
 */

const { db, pool } = testDb();
afterAll(() => pool.end());

const config = readConfig(env);
const PUBLIC_BASE = config.DERIVATIVES_PUBLIC_URL.replace(/\/+$/, "");
const NAMES = Object.keys(RENDITIONS) as RenditionName[];
const bytesOf = (key: string) => new TextEncoder().encode(`webp bytes of ${key}`);

let owner: Awaited<ReturnType<typeof signUp>>;
let rival: Awaited<ReturnType<typeof signUp>>;
let admin: Awaited<ReturnType<typeof signUp>>;

beforeAll(async () => {
  [owner, rival, admin] = await Promise.all([signUp("contributor"), signUp("contributor"), signUp("admin")]);
});

type Copies = { private?: boolean; public?: boolean };

/** An image of `owner` with all four renditions, its private and/or public copies in the buckets. */
async function makeImage(values: Partial<typeof images.$inferInsert>, copies: Copies) {
  const id = crypto.randomUUID();
  const keys = Object.fromEntries(NAMES.map((name) => [name, derivativeKey(id, name)])) as Record<RenditionName, string>;
  await db
    .insert(images)
    .values({ id, contributorId: owner.userId, title: `Rendition test ${id.slice(0, 8)}`, status: "approved", stage: "done", derivativeKeys: keys, ...values });
  for (const key of Object.values(keys)) {
    if (copies.private)
      await env.ORIGINALS.put(privateRenditionKey(key), bytesOf(key), { httpMetadata: { contentType: "image/webp", cacheControl: PRIVATE_RENDITION_CACHE_CONTROL } });
    if (copies.public) await env.DERIVATIVES.put(key, bytesOf(key), { httpMetadata: { contentType: "image/webp", cacheControl: DERIVATIVE_CACHE_CONTROL } });
  }
  return { id, keys };
}

/** Fetches a rendition at its public URL (locally the derivatives route stands in for the public bucket). */
const fetchPublic = (key: string) => api(`/v1/derivatives/${key}`);
const publicObjects = async (keys: Record<string, string>) => (await Promise.all(Object.values(keys).map((key) => env.DERIVATIVES.head(key)))).filter((o) => o !== null).length;
const privateObjects = async (keys: Record<string, string>) =>
  (await Promise.all(Object.values(keys).map((key) => env.ORIGINALS.head(privateRenditionKey(key))))).filter((o) => o !== null).length;

async function expectPublic(keys: Record<string, string>) {
  expect(await publicObjects(keys)).toBe(4);
  for (const key of Object.values(keys)) {
    const res = await fetchPublic(key);
    expect(res.status, key).toBe(200);
    expect(res.headers.get("cache-control")).toBe(DERIVATIVE_CACHE_CONTROL);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytesOf(key));
  }
}

async function expectNotPublic(keys: Record<string, string>) {
  expect(await publicObjects(keys), "objects in the public bucket").toBe(0);
  for (const key of Object.values(keys)) await expectProblem(await fetchPublic(key), 404, "not-found");
}

const unlistedStates: [string, Partial<typeof images.$inferInsert>][] = [
  ["pending review", { status: "pending_review", statusReason: "NSFW score 0.4" }],
  ["rejected", { status: "rejected", statusReason: "blurry" }],
  ["taken down", { status: "rejected", statusReason: "DMCA", takenDownAt: new Date() }],
  ["withdrawn", { status: "approved", withdrawnAt: new Date() }],
  ["processing", { status: "processing", stage: "processing" }],
];

describe("the public rendition URL", () => {
  it("answers 404 for pending, rejected, taken-down, withdrawn and processing images, even with an object left in the public bucket", async () => {
    const listed = await makeImage({}, { private: true, public: true });
    await expectPublic(listed.keys);
    for (const [state, values] of unlistedStates) {
      const { keys } = await makeImage(values, { private: true, public: true });
      for (const key of Object.values(keys)) expect((await fetchPublic(key)).status, `${state}: ${key}`).toBe(404);
    }
  });
});

describe("listing changes move the public copies", () => {
  it("approve publishes the private copies: 404 before, 200 after, immutable public objects", async () => {
    const { id, keys } = await makeImage({ status: "pending_review", statusReason: "NSFW score 0.3" }, { private: true });
    await expectNotPublic(keys);
    const res = await api(`/v1/admin/moderation/${id}/approve`, { method: "POST", token: admin.accessToken, json: {} });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(((await res.json()) as { renditions: unknown }).renditions).toEqual({ published: 4, unpublished: 0, cdnPurge: "none" });
    await expectPublic(keys);
    expect((await env.DERIVATIVES.head(keys.preview))?.httpMetadata?.cacheControl).toBe(DERIVATIVE_CACHE_CONTROL);
  });

  it("reject leaves nothing public (an older worker's public copies are removed, the private ones kept)", async () => {
    const { id, keys } = await makeImage({ status: "pending_review" }, { public: true });
    const res = await api(`/v1/admin/moderation/${id}/reject`, { method: "POST", token: admin.accessToken, json: { reason: "Out of focus" } });
    expect(res.status, await res.clone().text()).toBe(200);
    await expectNotPublic(keys);
    expect(await privateObjects(keys)).toBe(4);
  });

  it("a takedown deletes the public copies (and says the CDN purge is the operator's without zone credentials)", async () => {
    const { id, keys } = await makeImage({ publishedAt: new Date() }, { private: true, public: true });
    await expectPublic(keys);
    const res = await api(`/v1/admin/images/${id}/takedown`, { method: "POST", token: admin.accessToken, json: { reason: "DMCA notice 2026-7" } });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(((await res.json()) as { renditions: unknown }).renditions).toEqual({ published: 0, unpublished: 4, cdnPurge: "not-configured" });
    await expectNotPublic(keys);
    expect(await privateObjects(keys)).toBe(4);
  });

  it("withdrawing deletes the public copies, and a repeat withdrawal finishes a sync that failed", async () => {
    const { id, keys } = await makeImage({ publishedAt: new Date() }, { private: true, public: true });
    await expectPublic(keys);
    expect((await api(`/v1/images/${id}`, { method: "DELETE", token: owner.accessToken })).status).toBe(200);
    await expectNotPublic(keys);
    // A public copy written back behind the API's back (a sync that never ran) goes on the next withdrawal.
    await env.DERIVATIVES.put(keys.thumb450, bytesOf(keys.thumb450));
    expect((await api(`/v1/images/${id}`, { method: "DELETE", token: owner.accessToken })).status).toBe(200);
    await expectNotPublic(keys);
  });
});

async function portfolioOf(token: string) {
  const items: PortfolioPage["items"] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 20; pages++) {
    const res = await api(`/v1/contributor/portfolio?limit=100${cursor ? `&cursor=${cursor}` : ""}`, { token });
    expect(res.status).toBe(200);
    const page = (await res.json()) as PortfolioPage;
    items.push(...page.items);
    cursor = page.nextCursor;
    if (!cursor) break;
  }
  return items;
}

/** A presigned URL of the private copy: works as given, not without its signature. */
async function expectPrivateUrl(url: string | null | undefined, key: string) {
  expect(url).toBeTruthy();
  expect(url?.startsWith(PUBLIC_BASE)).toBe(false);
  expect(url).toContain(privateRenditionKey(key));
  expect(url).toContain("X-Amz-Signature=");
  const res = await SELF.fetch(url as string);
  expect(res.status).toBe(200);
  expect(res.headers.get("cache-control")).toBe(PRIVATE_RENDITION_CACHE_CONTROL);
  expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytesOf(key));
  expect((await SELF.fetch((url as string).replace(/\?.*$/, ""))).status).toBe(403);
}

describe("authenticated URLs for unlisted images", () => {
  it("the contributor's portfolio and status give presigned URLs of the private copies; listed images keep their public URL", async () => {
    const pending = await makeImage({ status: "pending_review" }, { private: true });
    const withdrawn = await makeImage({ withdrawnAt: new Date() }, { private: true });
    const listed = await makeImage({ publishedAt: new Date() }, { private: true, public: true });
    const mine = new Map((await portfolioOf(owner.accessToken)).map((item) => [item.id, item.thumbnailUrl]));
    await expectPrivateUrl(mine.get(pending.id), pending.keys.thumb450);
    await expectPrivateUrl(mine.get(withdrawn.id), withdrawn.keys.thumb450);
    expect(mine.get(listed.id)).toBe(`${PUBLIC_BASE}/${listed.keys.thumb450}`);

    const status = await api(`/v1/images/${pending.id}/status`, { token: owner.accessToken });
    expect(status.status).toBe(200);
    const { derivatives } = (await status.json()) as { derivatives: Record<string, string> };
    expect(Object.keys(derivatives).sort()).toEqual([...NAMES].sort());
    for (const name of NAMES) await expectPrivateUrl(derivatives[name], pending.keys[name]);
    const listedStatus = (await (await api(`/v1/images/${listed.id}/status`, { token: owner.accessToken })).json()) as { derivatives: Record<string, string> };
    expect(listedStatus.derivatives.preview).toBe(`${PUBLIC_BASE}/${listed.keys.preview}`);
  });

  it("another contributor and anonymous callers get none of them", async () => {
    const pending = await makeImage({ status: "pending_review" }, { private: true });
    const theirs = await portfolioOf(rival.accessToken);
    expect(theirs.some((item) => item.id === pending.id)).toBe(false);
    expect(JSON.stringify(theirs)).not.toContain(pending.id);
    await expectProblem(await api(`/v1/images/${pending.id}/status`, { token: rival.accessToken }), 404, "not-found");
    await expectProblem(await api(`/v1/images/${pending.id}/status`), 401, "unauthenticated");
    await expectProblem(await api("/v1/contributor/portfolio"), 401, "unauthenticated");
    await expectProblem(await api("/v1/admin/moderation/queue", { token: rival.accessToken }), 403, "forbidden");
    await expectProblem(await api(`/v1/images/${pending.id}`), 404, "not-found");
    await expectNotPublic(pending.keys);
  });

  it("the admin review queue gives presigned thumbnails and previews", async () => {
    const pending = await makeImage({ status: "pending_review" }, { private: true });
    type QueuePage = { items: { id: string; thumbnailUrl: string | null; previewUrl: string | null }[]; nextCursor: string | null };
    let item: QueuePage["items"][number] | undefined;
    let cursor: string | null = null;
    for (let pages = 0; pages < 50 && !item; pages++) {
      const res = await api(`/v1/admin/moderation/queue?limit=100${cursor ? `&cursor=${cursor}` : ""}`, { token: admin.accessToken });
      expect(res.status).toBe(200);
      const page = (await res.json()) as QueuePage;
      item = page.items.find((i) => i.id === pending.id);
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    await expectPrivateUrl(item?.thumbnailUrl, pending.keys.thumb450);
    await expectPrivateUrl(item?.previewUrl, pending.keys.preview);
    await expectNotPublic(pending.keys);
  });
});

describe("POST /v1/admin/renditions/reconcile", () => {
  it("fixes what was written before private renditions: unlisted images lose their public copies (kept privately), listed ones get missing copies back", async () => {
    const legacyUnlisted = await Promise.all(unlistedStates.map(([, values]) => makeImage(values, { public: true })));
    const legacyListed = await makeImage({}, { public: true });
    const missingPublic = await makeImage({}, { private: true });
    const ids = [...legacyUnlisted.map((i) => i.id), legacyListed.id, missingPublic.id];
    // Every page, as an operator runs it once after deploying.
    let cursor: string | undefined;
    let total = 0;
    for (let pages = 0; pages < 200; pages++) {
      const res = await api("/v1/admin/renditions/reconcile", { method: "POST", token: admin.accessToken, json: { limit: 100, ...(cursor ? { cursor } : {}) } });
      expect(res.status, await res.clone().text()).toBe(200);
      const report = (await res.json()) as ReconcileReport;
      total += report.checked;
      if (!report.nextCursor) break;
      cursor = report.nextCursor;
    }
    expect(total).toBeGreaterThanOrEqual(ids.length);
    for (const image of legacyUnlisted) {
      await expectNotPublic(image.keys);
      expect(await privateObjects(image.keys)).toBe(4);
    }
    await expectPublic(legacyListed.keys);
    await expectPublic(missingPublic.keys);

    const again = await api("/v1/admin/renditions/reconcile", { method: "POST", token: admin.accessToken, json: { limit: 1, cursor: missingPublic.id } });
    expect(again.status).toBe(200);
    await expectProblem(await api("/v1/admin/renditions/reconcile", { method: "POST", token: owner.accessToken, json: {} }), 403, "forbidden");
  });
});

describe("the hourly maintenance", () => {
  it("puts right the images changed in the last two hours whose sync never ran, and leaves older rows to the admin reconcile", async () => {
    const now = new Date();
    const unlistedRecently = await makeImage({ status: "rejected", statusReason: "DMCA", takenDownAt: now, updatedAt: now }, { private: true, public: true });
    const approvedRecently = await makeImage({ publishedAt: now, updatedAt: now }, { private: true });
    const unlistedLongAgo = await makeImage({ status: "pending_review", updatedAt: new Date(now.getTime() - 3 * 3600_000) }, { private: true, public: true });
    const report = await reconcileRecentRenditions({ db, env, config, urls: publicUrls(config), log }, now);
    expect(report.checked).toBeGreaterThanOrEqual(2);
    await expectNotPublic(unlistedRecently.keys);
    await expectPublic(approvedRecently.keys);
    expect(await publicObjects(unlistedLongAgo.keys)).toBe(4);
  });

  it("a repeated takedown (409) still removes public copies a failed sync left behind", async () => {
    const { id, keys } = await makeImage({ publishedAt: new Date() }, { private: true, public: true });
    expect((await api(`/v1/admin/images/${id}/takedown`, { method: "POST", token: admin.accessToken, json: { reason: "DMCA notice 2026-9" } })).status).toBe(200);
    await env.DERIVATIVES.put(keys.preview, bytesOf(keys.preview));
    await expectProblem(await api(`/v1/admin/images/${id}/takedown`, { method: "POST", token: admin.accessToken, json: { reason: "DMCA notice 2026-9" } }), 409, "conflict");
    await expectNotPublic(keys);
  });
});

describe("CDN purge", () => {
  it("posts the four URLs to Cloudflare's purge_cache when zone credentials are set, and does nothing without them", async () => {
    const calls: { url: string; init: RequestInit | undefined }[] = [];
    const fakeFetch = (async (url: string | URL | Request, init?: RequestInit) => {
      calls.push({ url: String(url), init });
      return new Response(JSON.stringify({ success: true }), { status: 200 });
    }) as typeof fetch;
    const lines: string[] = [];
    const log = createLogger({}, { write: (_level, line) => lines.push(line) });
    const id = crypto.randomUUID();
    const urls = NAMES.map((name) => `https://img.example.com/${derivativeKey(id, name)}`);
    expect(await purgeFromCdn({ config: { ...config, CLOUDFLARE_ZONE_ID: "", CLOUDFLARE_API_TOKEN: "" }, log, fetch: fakeFetch }, urls)).toBe("not-configured");
    expect(calls).toHaveLength(0);
    expect(await purgeFromCdn({ config: { ...config, CLOUDFLARE_ZONE_ID: "zone123", CLOUDFLARE_API_TOKEN: "token456" }, log, fetch: fakeFetch }, urls)).toBe("purged");
    expect(calls).toHaveLength(1);
    expect(calls[0]?.url).toBe("https://api.cloudflare.com/client/v4/zones/zone123/purge_cache");
    expect(new Headers(calls[0]?.init?.headers).get("authorization")).toBe("Bearer token456");
    expect(JSON.parse(String(calls[0]?.init?.body))).toEqual({ files: urls });
    const refusing = (async () => new Response("no", { status: 403 })) as typeof fetch;
    expect(await purgeFromCdn({ config: { ...config, CLOUDFLARE_ZONE_ID: "zone123", CLOUDFLARE_API_TOKEN: "token456" }, log, fetch: refusing }, urls)).toBe("failed");
    // The operator learns of it from the log: the listing change itself has committed.
    expect(lines.map((line) => JSON.parse(line))).toEqual([expect.objectContaining({ level: "error", msg: "CDN purge refused", status: 403, urls })]);
  });
});

describe("consumer responses", () => {
  it("a cart shows the public thumbnail of a listed item and none of an item no longer listed", async () => {
    const buyer = await signUp("buyer");
    const listed = await makeImage({ publishedAt: new Date() }, { private: true, public: true });
    const withdrawn = await makeImage({ publishedAt: new Date(), withdrawnAt: new Date() }, { private: true });
    const [cart] = await db.insert(carts).values({ buyerId: buyer.userId }).returning({ id: carts.id });
    if (!cart) throw new Error("no cart");
    await db.insert(cartItems).values([listed.id, withdrawn.id].map((imageId) => ({ cartId: cart.id, imageId, licenseType: "standard" as const })));
    const res = await api("/v1/cart", { token: buyer.accessToken });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { items: { imageId: string; thumbnailUrl: string | null }[] };
    expect(body.items.find((item) => item.imageId === listed.id)?.thumbnailUrl).toBe(`${PUBLIC_BASE}/${listed.keys.thumb450}`);
    expect(body.items.find((item) => item.imageId === withdrawn.id)?.thumbnailUrl).toBeNull();
  });
});
