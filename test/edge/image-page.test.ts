import { env } from "cloudflare:test";
import { eq, inArray } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { imageCategories, images, imageTags, licensePrices, users } from "../../db/schema";
import { readConfig } from "../../edge/config";
import { collapseNearDuplicates, type DuplicateKeys, hammingDistance, publicTechnicalMetadata, type SimilarImages } from "../../edge/services/catalogue/image-page";
import { api, expectProblem, signUp, storeTestEmbedding, TEST_MODEL, testDb } from "./support";

/**
 * The public image page and similar images, on rows written straight to the database: embeddings
 * built with known cosine similarities to a random direction (no other test file's images come
 * near it), perceptual hashes a chosen number of bits apart, every listing state.
 */

const { db, pool } = testDb();
afterAll(() => pool.end());

const DERIVATIVES = readConfig(env).DERIVATIVES_PUBLIC_URL.replace(/\/+$/, "");
// ISO 4217's code for testing: no other test file prices in it.
const CURRENCY = "xts";

function randomUnit(): number[] {
  // Sums of uniforms: near-Gaussian, so the direction is uniform enough on the sphere.
  const v = Array.from({ length: TEST_MODEL.dimensions }, () => Math.random() + Math.random() + Math.random() - 1.5);
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

const dot = (a: number[], b: number[]) => a.reduce((sum, x, i) => sum + x * (b[i] as number), 0);

/** A unit vector at exactly `cosine` to the unit vector `base`. */
function atCosine(base: number[], cosine: number): number[] {
  const r = randomUnit();
  const along = dot(r, base);
  const orthogonal = r.map((x, i) => x - along * (base[i] as number));
  const norm = Math.hypot(...orthogonal);
  const sine = Math.sqrt(1 - cosine * cosine);
  return base.map((b, i) => cosine * b + (sine * (orthogonal[i] as number)) / norm);
}

const randomPhash = () => BigInt.asIntN(64, BigInt(`0x${[...crypto.getRandomValues(new Uint8Array(8))].map((b) => b.toString(16).padStart(2, "0")).join("")}`));

/** `hash` with `bits` of its 64 bits flipped (the sign bit among them, to cover negative values). */
function flipBits(hash: bigint, bits: number): bigint {
  let mask = 0n;
  for (let i = 0; i < bits; i++) mask |= 1n << BigInt(63 - i * 9);
  return BigInt.asIntN(64, hash ^ mask);
}

let contributorId: string;
const displayName = `Harbour Studio ${crypto.randomUUID().slice(0, 8)}`;

type Row = typeof images.$inferInsert;
async function insertImage(values: Partial<Row> & { title: string }): Promise<string> {
  const [row] = await db
    .insert(images)
    .values({
      contributorId,
      status: "approved",
      stage: "done",
      sha256: crypto.randomUUID(),
      phash: randomPhash(),
      nsfwScore: 0.01,
      publishedAt: new Date(),
      ...values,
    })
    .returning({ id: images.id });
  if (!row) throw new Error("insert failed");
  return row.id;
}

const viewCount = async (id: string) => (await db.select({ n: images.viewCount }).from(images).where(eq(images.id, id)))[0]?.n;

beforeAll(async () => {
  const [user] = await db
    .insert(users)
    .values({ email: `studio-${crypto.randomUUID()}@example.test`, passwordHash: "unused", role: "contributor", displayName })
    .returning({ id: users.id });
  if (!user) throw new Error("no user");
  contributorId = user.id;
  // Marketplace defaults in the test currency (one default per type and currency may exist).
  await db
    .insert(licensePrices)
    .values([
      { licenseType: "standard", currency: CURRENCY, amountCents: 1000 },
      { licenseType: "enhanced", currency: CURRENCY, amountCents: 5000 },
      { licenseType: "editorial", currency: CURRENCY, amountCents: 800 },
    ])
    .onConflictDoNothing();
});

describe("GET /v1/images/:id", () => {
  let pageId: string;
  let editorialId: string;
  const metadata = {
    camera: "Canon EOS R5",
    lens: "RF24-70mm F2.8 L IS USM",
    iso: 200,
    aperture: 2.8,
    shutter: "1/250",
    exposureSeconds: 0.004,
    focalLength: 35,
    capturedAt: "2024-05-01T12:34:56+02:00",
    format: "jpeg",
    colourSpace: "srgb",
    // Personal data a faulty writer could have stored: none of it may come out.
    GPSLatitude: 51.50722,
    GPSLongitude: -0.1275,
    gps: { latitude: 51.50722, longitude: -0.1275 },
    serialNumber: "SN-0042-SECRET",
    BodySerialNumber: "BODY-9931",
    LensSerialNumber: "LENS-1234",
    OwnerName: "Jane Q. Photographer",
    // An allowed name with the wrong type is dropped too.
    lens35: "x",
    focalLength35mm: "35mm",
  };

  beforeAll(async () => {
    pageId = await insertImage({
      title: "Fishing boats in the harbour at dawn",
      description: "Boats moored at the quay",
      width: 6000,
      height: 4000,
      aspectRatio: 1.5,
      palette: [
        { hex: "#0b3d91", share: 0.6, bucket: "blue" },
        { hex: "#fdba74", share: 0.4, bucket: "orange" },
      ],
      metadata,
      derivativeKeys: { thumb450: "images/x/thumb-450.webp", preview: "images/x/preview-1200.webp" },
      publishedAt: new Date("2026-01-02T03:04:05.678Z"),
    });
    editorialId = await insertImage({ title: "Protest on the square", editorial: true });
    await db.insert(imageTags).values([
      { imageId: pageId, tag: "water", source: "ai", confidence: 0.6 },
      { imageId: pageId, tag: "harbour", source: "contributor" },
      { imageId: pageId, tag: "sky", source: "ai", confidence: 0.95 },
      { imageId: pageId, tag: "dock", source: "moderator" },
      { imageId: pageId, tag: "boats", source: "contributor" },
      { imageId: pageId, tag: "sea", source: "ai", confidence: 0.9 },
    ]);
    await db.insert(imageCategories).values([
      { imageId: pageId, categorySlug: "nature", source: "ai", confidence: 0.7 },
      { imageId: pageId, categorySlug: "travel", source: "contributor" },
    ]);
    await db.insert(licensePrices).values([
      { imageId: pageId, licenseType: "standard", currency: CURRENCY, amountCents: 1500 },
      // An inactive override is not in effect: the default applies.
      { imageId: pageId, licenseType: "enhanced", currency: CURRENCY, amountCents: 7000, active: false },
    ]);
  });

  it("returns the page of a listed image, cacheable for a minute", async () => {
    const res = await api(`/v1/images/${pageId}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("public, max-age=60");
    const page = (await res.json()) as Record<string, unknown>;
    expect(page).toMatchObject({
      id: pageId,
      title: "Fishing boats in the harbour at dawn",
      description: "Boats moored at the quay",
      contributor: { id: contributorId, displayName },
      width: 6000,
      height: 4000,
      orientation: "landscape",
      aspectRatio: 1.5,
      editorial: false,
      colours: [
        { hex: "#0b3d91", share: 0.6, bucket: "blue" },
        { hex: "#fdba74", share: 0.4, bucket: "orange" },
      ],
      derivatives: { thumb450: `${DERIVATIVES}/images/x/thumb-450.webp`, preview: `${DERIVATIVES}/images/x/preview-1200.webp` },
      publishedAt: "2026-01-02T03:04:05.678Z",
    });
  });

  it("lists human tags first, then AI tags by confidence, without the confidence", async () => {
    const page = (await (await api(`/v1/images/${pageId}`)).json()) as { tags: unknown[]; categories: unknown[] };
    expect(page.tags).toEqual([
      { tag: "boats", source: "contributor" },
      { tag: "harbour", source: "contributor" },
      { tag: "dock", source: "moderator" },
      { tag: "sky", source: "ai" },
      { tag: "sea", source: "ai" },
      { tag: "water", source: "ai" },
    ]);
    expect(page.categories).toEqual([
      { slug: "travel", name: "Travel" },
      { slug: "nature", name: "Nature" },
    ]);
  });

  it("shows allow-listed technical metadata and nothing personal, even when the column holds it", async () => {
    const res = await api(`/v1/images/${pageId}`);
    const text = await res.text();
    const page = JSON.parse(text) as { technical: Record<string, unknown> };
    expect(page.technical).toEqual({
      camera: "Canon EOS R5",
      lens: "RF24-70mm F2.8 L IS USM",
      iso: 200,
      aperture: 2.8,
      shutter: "1/250",
      exposureSeconds: 0.004,
      focalLength: 35,
      capturedAt: "2024-05-01T12:34:56+02:00",
      format: "jpeg",
      colourSpace: "srgb",
    });
    for (const leak of ["GPS", "gps", "51.50722", "-0.1275", "serial", "Serial", "SN-0042", "BODY-9931", "LENS-1234", "Owner", "Jane", "lens35", "35mm"]) {
      expect(text).not.toContain(leak);
    }
  });

  it("prices every license type, the image's own active price over the default", async () => {
    const page = (await (await api(`/v1/images/${pageId}`)).json()) as { prices: { licenseType: string; currency: string; amountCents: number }[] };
    expect(page.prices.filter((p) => p.currency === CURRENCY)).toEqual([
      { licenseType: "standard", currency: CURRENCY, amountCents: 1500 },
      { licenseType: "enhanced", currency: CURRENCY, amountCents: 5000 },
      { licenseType: "editorial", currency: CURRENCY, amountCents: 800 },
    ]);
  });

  it("offers editorial images under the editorial license only", async () => {
    const page = (await (await api(`/v1/images/${editorialId}`)).json()) as { editorial: boolean; prices: { licenseType: string; currency: string; amountCents: number }[] };
    expect(page.editorial).toBe(true);
    expect(page.prices.length).toBeGreaterThan(0);
    expect(page.prices.every((p) => p.licenseType === "editorial")).toBe(true);
    expect(page.prices.filter((p) => p.currency === CURRENCY)).toEqual([{ licenseType: "editorial", currency: CURRENCY, amountCents: 800 }]);
  });

  it("answers an empty page's lists as empty, not null", async () => {
    const bare = await insertImage({ title: "Bare listing" });
    const page = (await (await api(`/v1/images/${bare}`)).json()) as Record<string, unknown>;
    expect(page).toMatchObject({ tags: [], categories: [], colours: [], technical: {}, derivatives: {}, description: null, width: null, orientation: null, credit: null });
  });

  it("shows the credit an imported photo's licence asks for", async () => {
    const credited = await insertImage({
      title: "Cheetah resting in the grass",
      credit: "Charles J. Sharp",
      creditLicense: "CC-BY-SA-4.0",
      creditSource: "https://commons.wikimedia.org/wiki/File:Cheetah_(Acinonyx_jubatus)_female_2.jpg",
    });
    const page = (await (await api(`/v1/images/${credited}`)).json()) as { credit: unknown };
    expect(page.credit).toEqual({ author: "Charles J. Sharp", license: "CC-BY-SA-4.0", source: "https://commons.wikimedia.org/wiki/File:Cheetah_(Acinonyx_jubatus)_female_2.jpg" });
    const authorOnly = await insertImage({ title: "Credited without a licence name", credit: "A. Photographer" });
    expect(((await (await api(`/v1/images/${authorOnly}`)).json()) as { credit: unknown }).credit).toEqual({ author: "A. Photographer", license: null, source: null });
  });

  it("counts views after answering", async () => {
    const id = await insertImage({ title: "Counted" });
    for (let i = 0; i < 3; i++) expect((await api(`/v1/images/${id}`)).status).toBe(200);
    const deadline = Date.now() + 5000;
    while ((await viewCount(id)) !== 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await viewCount(id)).toBe(3);
  });

  it("is a 404 for every image that is not approved and listed, and counts no view", async () => {
    const states: Partial<Row>[] = [
      { status: "pending_review" },
      { status: "rejected" },
      { status: "processing", stage: "processing" },
      { status: "processing_failed", stage: "failed" },
      { status: "approved", withdrawnAt: new Date() },
    ];
    const ids = await Promise.all(states.map((state, i) => insertImage({ title: `Hidden ${i}`, ...state })));
    for (const id of [...ids, crypto.randomUUID()]) {
      const res = await api(`/v1/images/${id}`);
      await expectProblem(res, 404, "not-found");
    }
    await new Promise((r) => setTimeout(r, 200));
    const counts = await db.select({ n: images.viewCount }).from(images).where(inArray(images.id, ids));
    expect(counts.map((c) => c.n)).toEqual(ids.map(() => 0));
  });

  it("refuses an id that is not a UUID with a 422", async () => {
    const body = await expectProblem(await api("/v1/images/not-a-uuid"), 422, "validation-failed");
    expect(body.errors?.map((e) => e.path)).toContain("id");
  });

  it("serves API keys with the images:read scope", async () => {
    const buyer = await signUp("buyer");
    const created = await api("/v1/api-keys", { method: "POST", token: buyer.accessToken, json: { name: "pages", scopes: ["images:read"] } });
    expect(created.status).toBe(201);
    const { secret } = (await created.json()) as { secret: string };
    const res = await api(`/v1/images/${pageId}`, { apiKey: secret });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: string }).id).toBe(pageId);
  });
});

describe("GET /v1/images/:id/similar", () => {
  const base = randomUnit();
  const sourcePhash = randomPhash();
  const sourceSha = crypto.randomUUID();
  const ids: Record<string, string> = {};
  const similarity: Record<string, number> = {};

  const similar = async (query = "") => {
    const res = await api(`/v1/images/${ids.source}/similar${query}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("public, max-age=60");
    return (await res.json()) as SimilarImages;
  };
  /** Results by the name each was inserted under ("other" for other test files' images). */
  const resultNames = (body: SimilarImages) => body.results.map((r) => Object.keys(ids).find((name) => ids[name] === r.id) ?? "other");

  beforeAll(async () => {
    const add = async (name: string, cosine: number | null, values: Partial<Row> = {}) => {
      if (cosine !== null) similarity[name] = cosine;
      ids[name] = await insertImage({ title: name, ...values });
      if (cosine !== null) await storeTestEmbedding(db, ids[name] as string, atCosine(base, cosine));
    };
    // The original the source duplicates (the source is its contributor's approved re-upload).
    await add("original", 0.997);
    await add("rejectedCopy", 0.2, { status: "rejected" });
    await add("source", 1, { phash: sourcePhash, sha256: sourceSha, duplicateOf: ids.original, derivativeKeys: { thumb450: "images/s/thumb-450.webp" } });
    // Excluded in SQL: duplicates of the source, in every relation, and near-identical hashes.
    await add("duplicateOfSource", 0.999, { duplicateOf: ids.source });
    await add("sibling", 0.996, { duplicateOf: ids.original });
    await add("sameFile", 0.995, { sha256: sourceSha });
    await add("nearHash", 0.994, { phash: flipBits(sourcePhash, 6) });
    // Never listed: whatever their similarity.
    await add("pending", 0.993, { status: "pending_review" });
    await add("rejected", 0.992, { status: "rejected" });
    await add("processing", 0.991, { status: "processing", stage: "processing" });
    await add("failed", 0.9905, { status: "processing_failed", stage: "failed" });
    await add("withdrawn", 0.99, { withdrawnAt: new Date() });
    // Ranked results; the twins collapse onto the first of their pair.
    const firstPhash = randomPhash();
    await add("first", 0.98, { phash: firstPhash, derivativeKeys: { thumb450: "images/f/thumb-450.webp" } });
    await add("firstTwin", 0.975, { phash: flipBits(firstPhash, 4) });
    await add("unsafe", 0.97, { nsfwScore: 0.5 });
    await add("unscored", 0.965, { nsfwScore: null });
    await add("second", 0.95, { editorial: true });
    await add("secondDuplicate", 0.945, { duplicateOf: ids.second });
    const thirdSha = crypto.randomUUID();
    await add("third", 0.9, { sha256: thirdSha });
    // The same file can be listed twice only when one row records a duplicate (of anything).
    await add("thirdSameFile", 0.895, { sha256: thirdSha, duplicateOf: ids.rejectedCopy });
    await add("fourth", 0.85);
    // Seven bits from the source's hash: a different picture.
    await add("farHash", 0.8, { phash: flipBits(sourcePhash, 7) });
    await add("distant", 0.3);
    await add("noEmbedding", null);
  });

  it("ranks by similarity and collapses near-duplicates of the image and among the results", async () => {
    const body = await similar();
    expect(body.imageId).toBe(ids.source);
    expect(body.degraded).toEqual([]);
    expect(body.notice).toBeUndefined();
    const ranked = ["first", "second", "third", "fourth", "farHash", "distant"];
    expect(resultNames(body).slice(0, ranked.length)).toEqual(ranked);
    for (const [i, name] of ranked.entries()) {
      expect(body.results[i]?.similarity).toBeCloseTo(similarity[name] as number, 4);
    }
    const scores = body.results.map((r) => r.similarity);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(body.results[0]).toMatchObject({ title: "first", derivatives: { thumb450: `${DERIVATIVES}/images/f/thumb-450.webp` }, editorial: false });
    expect(body.results[1]?.editorial).toBe(true);
  });

  it("never returns the image itself, its duplicates, near-identical or unlisted images, or images without embeddings", async () => {
    const body = await similar("?perPage=48&safe=false");
    const excluded = [
      "source",
      "original",
      "duplicateOfSource",
      "sibling",
      "sameFile",
      "nearHash",
      "rejectedCopy",
      "pending",
      "rejected",
      "processing",
      "failed",
      "withdrawn",
      "firstTwin",
      "secondDuplicate",
      "thirdSameFile",
      "noEmbedding",
    ];
    expect(resultNames(body).filter((name) => excluded.includes(name))).toEqual([]);
    expect(resultNames(body)).toContain("distant");
  });

  it("keeps safe search on by default: only images the classifier scored below 0.1", async () => {
    const safe = resultNames(await similar("?perPage=48"));
    expect(safe).not.toContain("unsafe");
    expect(safe).not.toContain("unscored");
    const all = await similar("?perPage=48&safe=false");
    expect(resultNames(all).slice(0, 7)).toEqual(["first", "unsafe", "unscored", "second", "third", "fourth", "farHash"]);
  });

  it("returns exactly perPage results, filling the page past collapsed ones", async () => {
    expect(resultNames(await similar("?perPage=1"))).toEqual(["first"]);
    expect(resultNames(await similar("?perPage=2"))).toEqual(["first", "second"]);
    expect(resultNames(await similar("?perPage=3"))).toEqual(["first", "second", "third"]);
    expect((await similar()).results.length).toBeLessThanOrEqual(24);
  });

  it("answers an image without an embedding with no results and says why", async () => {
    const res = await api(`/v1/images/${ids.noEmbedding}/similar`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as SimilarImages;
    expect(body).toMatchObject({ imageId: ids.noEmbedding, results: [], degraded: ["semantic"] });
    expect(body.notice).toMatch(/embedding/);
  });

  it("is a 404 for an image that is not approved and listed", async () => {
    for (const id of [...["pending", "rejected", "processing", "failed", "withdrawn"].map((name) => ids[name]), crypto.randomUUID()]) {
      await expectProblem(await api(`/v1/images/${id}/similar`), 404, "not-found");
    }
  });

  it("refuses bad parameters with 422 problems naming them", async () => {
    const cases: [string, string][] = [
      ["?perPage=0", "perPage"],
      ["?perPage=49", "perPage"],
      ["?perPage=ten", "perPage"],
      ["?perPage=-1", "perPage"],
      ["?perPage=2.5", "perPage"],
      ["?safe=maybe", "safe"],
      ["?safe=1", "safe"],
      ["?page=2", "page"],
      ["?perPage=2&perPage=3", "perPage"],
    ];
    for (const [query, path] of cases) {
      const body = await expectProblem(await api(`/v1/images/${ids.source}/similar${query}`), 422, "validation-failed");
      expect(
        body.errors?.map((e) => e.path),
        query,
      ).toContain(path);
    }
    const body = await expectProblem(await api("/v1/images/not-a-uuid/similar"), 422, "validation-failed");
    expect(body.errors?.map((e) => e.path)).toContain("id");
  });
});

describe("near-duplicate rules", () => {
  const keys = (id: string, values: Partial<DuplicateKeys> = {}): DuplicateKeys => ({ id, sha256: null, phash: null, duplicateOf: null, ...values });

  it("counts differing bits over all 64, the sign bit included", () => {
    expect(hammingDistance(0n, 0n)).toBe(0);
    expect(hammingDistance(-1n, 0n)).toBe(64);
    expect(hammingDistance(-(2n ** 63n), 0n)).toBe(1);
    expect(hammingDistance(5n, 3n)).toBe(2);
  });

  it("keeps the first of each group: duplicate links, the same file, or hashes within 6 bits", () => {
    const ranked = [
      keys("a", { phash: 0b1111n }),
      keys("a-near", { phash: 0b1111n ^ (0b111111n << 10n) }),
      keys("b", { phash: 0xffffn << 32n, sha256: "s" }),
      keys("b-file", { sha256: "s" }),
      keys("c", { phash: -1n }),
      keys("c-linked", { duplicateOf: "c" }),
      keys("e", { duplicateOf: "z" }),
      keys("e-sibling", { duplicateOf: "z" }),
      keys("f", { duplicateOf: "e" }),
      keys("d", { phash: 0b1111n ^ (0b1111111n << 10n) }),
    ];
    expect(collapseNearDuplicates(ranked, 10).map((k) => k.id)).toEqual(["a", "b", "c", "e", "d"]);
    expect(collapseNearDuplicates(ranked, 2).map((k) => k.id)).toEqual(["a", "b"]);
  });

  it("allow-lists technical metadata by name and type", () => {
    expect(publicTechnicalMetadata(null)).toEqual({});
    expect(publicTechnicalMetadata({ camera: "X100V", iso: Number.NaN, lens: "", shutter: 250, GPSAltitude: 12, camera_serial: "1", capturedAt: "x".repeat(201) })).toEqual({
      camera: "X100V",
    });
  });
});
