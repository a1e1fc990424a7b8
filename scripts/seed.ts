/**
 * `npm run seed` (with `npm start` running): a marketplace to look at instead of an empty database.
 *   - demo accounts (admin, two contributors, a buyer; passwords printed below),
 *   - the category list, default license prices and subscription plans,
 *   - the sample photos in test/fixtures/photos (captions as titles; override the folder
 *     with SEED_PHOTOS_DIR) and a generated demo catalogue of SEED_GENERATED (default 48) images,
 *     each stored as an original in the private R2 bucket and a WebP thumbnail and preview in the
 *     public one (wrangler's local R2, the same state `npm start` serves), listed as approved.
 * Safe to run again: everything is keyed (email, slug, sha256) and upserted.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { eq, sql } from "drizzle-orm";
import sharp from "sharp";
import { getPlatformProxy } from "wrangler";
import { connectDatabase } from "../db/connect";
import { categories, imageCategories, imageTags, images, licensePrices, subscriptionPlans, users } from "../db/schema";
import { hashPassword } from "../edge/lib/password";
import { DEFAULT_NSFW_MODEL_PATH } from "../gpu-worker/config";
import { loadNsfwModel } from "../gpu-worker/ml/nsfw";
import { decodeWorking } from "../gpu-worker/pipeline/index";

const root = resolve(import.meta.dir, "..");
const dataDir = resolve(root, process.env.EDGESTOCK_DATA_DIR ?? ".data");
const stackFile = join(dataDir, "stack.json");
if (!existsSync(stackFile)) {
  console.error("No running stack found: start it first with `npm start` (in another terminal).");
  process.exit(1);
}
const stack = JSON.parse(readFileSync(stackFile, "utf8")) as { databaseUrl: string; databaseProxy: string };
const { db, pool } = connectDatabase(stack.databaseUrl, { localProxy: stack.databaseProxy });

const CATEGORIES = ["nature", "people", "business", "food", "animals", "architecture", "technology", "travel", "sports", "abstract", "science", "transport"];
const DEMO_PASSWORD = "edgestock demo";
const ACCOUNTS = [
  { email: "admin@edgestock.local", role: "admin", displayName: "Edgestock Admin" },
  { email: "ada@edgestock.local", role: "contributor", displayName: "Ada Photographer" },
  { email: "lin@edgestock.local", role: "contributor", displayName: "Lin Studio" },
  { email: "buyer@edgestock.local", role: "buyer", displayName: "Demo Buyer" },
] as const;

const passwordHash = await hashPassword(DEMO_PASSWORD);
const accountIds: Record<string, string> = {};
for (const account of ACCOUNTS) {
  const [row] = await db
    .insert(users)
    .values({ ...account, passwordHash })
    .onConflictDoUpdate({ target: users.email, set: { role: account.role, displayName: account.displayName } })
    .returning({ id: users.id });
  if (row) accountIds[account.email] = row.id;
}
await db
  .insert(categories)
  .values(CATEGORIES.map((slug, i) => ({ slug, name: slug[0]?.toUpperCase() + slug.slice(1), sortOrder: i })))
  .onConflictDoNothing();
await db.execute(sql`delete from license_prices where image_id is null`);
await db.insert(licensePrices).values([
  { licenseType: "standard", currency: "usd", amountCents: 2900 },
  { licenseType: "enhanced", currency: "usd", amountCents: 9900 },
  { licenseType: "editorial", currency: "usd", amountCents: 1900 },
]);
await db
  .insert(subscriptionPlans)
  .values([
    { id: "starter-monthly", name: "Starter", monthlyCredits: 10, priceCents: 4900, currency: "usd" },
    { id: "team-monthly", name: "Team", monthlyCredits: 50, priceCents: 19900, currency: "usd" },
  ])
  .onConflictDoNothing();

/** The platform proxy serialises bodies itself: hand it a plain ArrayBuffer, not a Node Buffer view. */
const toArrayBuffer = (buffer: Buffer): ArrayBuffer => Uint8Array.from(buffer).buffer;

type Listing = { bytes: Buffer; title: string; description: string; tags: string[]; category: string; contributor: string; ext: string };

// The real sample photos with their captions.
const photosDir = resolve(root, process.env.SEED_PHOTOS_DIR ?? "test/fixtures/photos");
const listings: Listing[] = [];
if (existsSync(join(photosDir, "captions.json"))) {
  const { captions } = JSON.parse(readFileSync(join(photosDir, "captions.json"), "utf8")) as { captions: Record<string, string> };
  const STOP = new Set(["a", "an", "the", "of", "on", "in", "with", "about", "at", "and"]);
  for (const file of readdirSync(photosDir).filter((f) => captions[f])) {
    const caption = captions[file] as string;
    listings.push({
      bytes: readFileSync(join(photosDir, file)),
      title: caption[0]?.toUpperCase() + caption.slice(1),
      description: `Sample photo (scikit-image sample data, public domain): ${caption}.`,
      tags: [...new Set(caption.toLowerCase().split(/[^a-z]+/).filter((w) => w.length > 2 && !STOP.has(w)))],
      category: /cat|horse/.test(caption) ? "animals" : /rocket|astronaut/.test(caption) ? "science" : /motorcycle/.test(caption) ? "transport" : /coffee/.test(caption) ? "food" : "people",
      contributor: "ada@edgestock.local",
      ext: file.split(".").pop() as string,
    });
  }
} else {
  console.warn(`(no sample photos at ${photosDir}; only the generated catalogue is loaded)`);
}

// A generated catalogue: abstract gradient artworks, titled and tagged from a small vocabulary.
const PALETTES = [["#0b3d91", "#38bdf8", "ocean"], ["#14532d", "#86efac", "forest"], ["#7c2d12", "#fdba74", "sunset"], ["#4c1d95", "#f0abfc", "dream"], ["#111827", "#9ca3af", "mono"], ["#831843", "#fda4af", "bloom"]] as const;
const SHAPES = ["circles", "waves", "stripes", "grid"] as const;
const ORIENTATIONS = [[1600, 1067, "landscape"], [1067, 1600, "portrait"], [1400, 1400, "square"]] as const;
const count = Number(process.env.SEED_GENERATED ?? 48);
for (let i = 0; i < count; i++) {
  const [from, to, mood] = PALETTES[i % PALETTES.length] as (typeof PALETTES)[number];
  const shape = SHAPES[Math.floor(i / PALETTES.length) % SHAPES.length] as (typeof SHAPES)[number];
  const [w, h, orientation] = ORIENTATIONS[i % ORIENTATIONS.length] as (typeof ORIENTATIONS)[number];
  const motif =
    shape === "circles"
      ? Array.from({ length: 6 }, (_, k) => `<circle cx="${(k * 37 + i * 13) % w}" cy="${(k * 53 + i * 29) % h}" r="${120 + k * 30}" fill="white" fill-opacity="0.${k + 1}"/>`).join("")
      : shape === "waves"
        ? Array.from({ length: 8 }, (_, k) => `<path d="M0 ${k * 140 + 60} Q ${w / 2} ${k * 140 - 60 + (i % 5) * 20} ${w} ${k * 140 + 60}" stroke="white" stroke-opacity="0.35" stroke-width="18" fill="none"/>`).join("")
        : shape === "stripes"
          ? Array.from({ length: 12 }, (_, k) => `<rect x="${k * 140}" y="0" width="60" height="${h}" fill="white" fill-opacity="0.${(k % 5) + 1}" transform="rotate(${(i % 7) * 5})"/>`).join("")
          : Array.from({ length: 64 }, (_, k) => `<rect x="${(k % 8) * (w / 8) + 10}" y="${Math.floor(k / 8) * (h / 8) + 10}" width="${w / 8 - 20}" height="${h / 8 - 20}" rx="12" fill="white" fill-opacity="${((k * 7 + i) % 10) / 20}"/>`).join("");
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="${from}"/><stop offset="1" stop-color="${to}"/></linearGradient></defs><rect width="100%" height="100%" fill="url(#g)"/>${motif}</svg>`;
  listings.push({
    bytes: await sharp(Buffer.from(svg)).jpeg({ quality: 85 }).toBuffer(),
    title: `${mood[0]?.toUpperCase()}${mood.slice(1)} ${shape} abstract background #${i + 1}`,
    description: `Generated ${orientation} abstract background: ${shape} over a ${mood} gradient. Demo catalogue.`,
    tags: ["abstract", "background", "gradient", mood, shape, orientation, "pattern", "wallpaper"],
    category: "abstract",
    contributor: i % 2 ? "lin@edgestock.local" : "ada@edgestock.local",
    ext: "jpg",
  });
}

// wrangler's local R2, the same state `npm start` serves (it runs with --persist-to .data/wrangler).
type Bucket = { put(key: string, value: ArrayBuffer, options: { httpMetadata: Record<string, string> }): Promise<unknown> };
const platform = await getPlatformProxy<{ ORIGINALS: Bucket; DERIVATIVES: Bucket }>({
  configPath: join(root, "wrangler.toml"),
  persist: { path: join(dataDir, "wrangler", "v3") },
});
// The real NSFW classifier scores every demo image (safe search hides unscored images).
const nsfw = await loadNsfwModel(process.env.NSFW_MODEL_PATH || DEFAULT_NSFW_MODEL_PATH, { intraOpNumThreads: 1 });
let created = 0;
for (const listing of listings) {
  const sha256 = createHash("sha256").update(listing.bytes).digest("hex");
  const meta = await sharp(listing.bytes).metadata();
  // Scored on the same working decode the pipeline gives the classifier.
  const [scores] = await nsfw.score([await decodeWorking(listing.bytes, 150_000_000)]);
  const contributorId = accountIds[listing.contributor] as string;
  const [row] = await db
    .insert(images)
    .values({
      contributorId,
      title: listing.title,
      description: listing.description,
      status: "approved",
      stage: "done",
      sha256,
      width: meta.width,
      height: meta.height,
      format: meta.format,
      bytes: listing.bytes.length,
      nsfwScore: scores ? Math.round(scores.nsfw * 10_000) / 10_000 : null,
      tagText: listing.tags.join(" "),
      publishedAt: new Date(),
    })
    .onConflictDoUpdate({ target: images.sha256, targetWhere: sql`sha256 is not null and duplicate_of is null`, set: { title: listing.title, tagText: listing.tags.join(" "), nsfwScore: scores ? Math.round(scores.nsfw * 10_000) / 10_000 : null } })
    .returning({ id: images.id, inserted: sql<boolean>`(xmax = 0)` });
  if (!row) continue;
  if (row.inserted) created++;
  const originalKey = `originals/${contributorId}/${row.id}.${listing.ext}`;
  const derivatives = { thumb450: `images/${row.id}/thumb-450.webp`, preview: `images/${row.id}/preview-1200.webp` };
  await platform.env.ORIGINALS.put(originalKey, toArrayBuffer(listing.bytes), { httpMetadata: { contentType: `image/${meta.format}` } });
  const decoded = sharp(listing.bytes).rotate();
  for (const [key, size] of [[derivatives.thumb450, 450], [derivatives.preview, 1200]] as const) {
    const webp = await decoded.clone().resize(size, size, { fit: "inside", withoutEnlargement: true }).webp({ quality: 80 }).toBuffer();
    await platform.env.DERIVATIVES.put(key, toArrayBuffer(webp), { httpMetadata: { contentType: "image/webp", cacheControl: "public, max-age=31536000, immutable" } });
  }
  await db.update(images).set({ originalKey, derivativeKeys: derivatives }).where(eq(images.id, row.id));
  await db
    .insert(imageTags)
    .values(listing.tags.map((tag) => ({ imageId: row.id, tag, confidence: 1, source: "contributor" as const })))
    .onConflictDoNothing();
  await db.insert(imageCategories).values({ imageId: row.id, categorySlug: listing.category, source: "contributor" }).onConflictDoNothing();
}
await platform.dispose();
await nsfw.close();
const [{ total }] = (await db.execute<{ total: number }>(sql`select count(*)::int as total from images where status = 'approved'`)).rows as [{ total: number }];
await pool.end();
console.log(`Seeded ${listings.length} listings (${created} new); ${total} approved images in the catalogue.`);
console.log(`Demo accounts (password "${DEMO_PASSWORD}"): ${ACCOUNTS.map((a) => `${a.email} (${a.role})`).join(", ")}`);
