/**
 * `npm run seed` (with `npm start` running): a marketplace to look at instead of an empty database.
 *   - demo accounts (admin, two contributors, a buyer, and "Generated demo" for the generated
 *     backgrounds; passwords printed below), the category list, default license prices and
 *     subscription plans, all upserted;
 *   - the demo catalogue in demo/ (real photographs under CC0, public domain, CC BY and CC BY-SA,
 *     with their credits: demo/README.md), listed by Ada Photographer;
 *   - SEED_GENERATED (default 48) generated abstract backgrounds, written to <data dir>/seed/generated
 *     and labelled as generated (keyword "generated", contributor "Generated demo").
 * Both catalogues go through the bulk importer (`bun run migrate`, migrate/main.ts): the same
 * pipeline as uploads (renditions, watermarks, hashes, colours, EXIF, the NSFW score, and CLIP
 * embeddings, AI tags and categories when a CLIP model is installed) and the same moderation
 * decision. Nothing here writes a listing itself. Without the NSFW classifier the images are
 * imported but wait for review. Safe to run again: accounts, categories, prices and plans are keyed,
 * and the importer's checkpoint (by source path) and content-derived ids skip what is listed.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { sql } from "drizzle-orm";
import sharp from "sharp";
import { connectDatabase } from "../db/connect";
import { categories, subscriptionPlans, users } from "../db/schema";
import { hashPassword } from "../edge/lib/password";
import { DEFAULT_NSFW_MODEL_PATH } from "../gpu-worker/config";

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
const PHOTOS_CONTRIBUTOR = "ada@edgestock.local";
const GENERATED_CONTRIBUTOR = "generated@edgestock.local";
const ACCOUNTS = [
  { email: "admin@edgestock.local", role: "admin", displayName: "Edgestock Admin" },
  { email: PHOTOS_CONTRIBUTOR, role: "contributor", displayName: "Ada Photographer" },
  { email: "lin@edgestock.local", role: "contributor", displayName: "Lin Studio" },
  { email: "buyer@edgestock.local", role: "buyer", displayName: "Demo Buyer" },
  { email: GENERATED_CONTRIBUTOR, role: "contributor", displayName: "Generated demo" },
] as const;
const DEFAULT_PRICES = [
  { licenseType: "standard", currency: "usd", amountCents: 2900 },
  { licenseType: "enhanced", currency: "usd", amountCents: 9900 },
  { licenseType: "editorial", currency: "usd", amountCents: 1900 },
] as const;

const passwordHash = await hashPassword(DEMO_PASSWORD);
for (const account of ACCOUNTS) {
  await db
    .insert(users)
    .values({ ...account, passwordHash })
    .onConflictDoUpdate({ target: users.email, set: { role: account.role, displayName: account.displayName } });
}
await db
  .insert(categories)
  .values(CATEGORIES.map((slug, i) => ({ slug, name: slug[0]?.toUpperCase() + slug.slice(1), sortOrder: i })))
  .onConflictDoNothing();
// A marketplace default (image_id null) only where none is active: a second run, or a price an admin set, is left alone.
for (const price of DEFAULT_PRICES) {
  await db.execute(sql`
    insert into license_prices (license_type, currency, amount_cents)
    select ${price.licenseType}, ${price.currency}, ${price.amountCents}
    where not exists (select 1 from license_prices where image_id is null and active and license_type = ${price.licenseType} and currency = ${price.currency})`);
}
await db
  .insert(subscriptionPlans)
  .values([
    { id: "starter-monthly", name: "Starter", monthlyCredits: 10, priceCents: 4900, currency: "usd" },
    { id: "team-monthly", name: "Team", monthlyCredits: 50, priceCents: 19900, currency: "usd" },
  ])
  .onConflictDoNothing();

// Generated abstract backgrounds: deterministic files in a stable folder, so the importer's
// checkpoint (by path) and content-derived ids recognise them on the next run.
const generatedDir = join(dataDir, "seed", "generated");
mkdirSync(generatedDir, { recursive: true });
const PALETTES = [
  ["#0b3d91", "#38bdf8", "ocean"],
  ["#14532d", "#86efac", "forest"],
  ["#7c2d12", "#fdba74", "sunset"],
  ["#4c1d95", "#f0abfc", "dream"],
  ["#111827", "#9ca3af", "mono"],
  ["#831843", "#fda4af", "bloom"],
] as const;
const SHAPES = ["circles", "waves", "stripes", "grid"] as const;
const ORIENTATIONS = [
  [1600, 1067, "landscape"],
  [1067, 1600, "portrait"],
  [1400, 1400, "square"],
] as const;
const count = Number(process.env.SEED_GENERATED ?? 48);
const csvField = (text: string) => (/[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);
const generatedManifest = ["path,title,description,keywords,category,credit"];
for (let i = 0; i < count; i++) {
  const [from, to, mood] = PALETTES[i % PALETTES.length] as (typeof PALETTES)[number];
  const shape = SHAPES[Math.floor(i / PALETTES.length) % SHAPES.length] as (typeof SHAPES)[number];
  const [w, h, orientation] = ORIENTATIONS[i % ORIENTATIONS.length] as (typeof ORIENTATIONS)[number];
  const file = `abstract-${String(i + 1).padStart(3, "0")}.jpg`;
  if (!existsSync(join(generatedDir, file))) {
    const motif =
      shape === "circles"
        ? Array.from(
            { length: 6 },
            (_, k) => `<circle cx="${(k * 37 + i * 13) % w}" cy="${(k * 53 + i * 29) % h}" r="${120 + k * 30}" fill="white" fill-opacity="0.${k + 1}"/>`,
          ).join("")
        : shape === "waves"
          ? Array.from(
              { length: 8 },
              (_, k) =>
                `<path d="M0 ${k * 140 + 60} Q ${w / 2} ${k * 140 - 60 + (i % 5) * 20} ${w} ${k * 140 + 60}" stroke="white" stroke-opacity="0.35" stroke-width="18" fill="none"/>`,
            ).join("")
          : shape === "stripes"
            ? Array.from(
                { length: 12 },
                (_, k) => `<rect x="${k * 140}" y="0" width="60" height="${h}" fill="white" fill-opacity="0.${(k % 5) + 1}" transform="rotate(${(i % 7) * 5})"/>`,
              ).join("")
            : Array.from(
                { length: 64 },
                (_, k) =>
                  `<rect x="${(k % 8) * (w / 8) + 10}" y="${Math.floor(k / 8) * (h / 8) + 10}" width="${w / 8 - 20}" height="${h / 8 - 20}" rx="12" fill="white" fill-opacity="${((k * 7 + i) % 10) / 20}"/>`,
              ).join("");
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="${from}"/><stop offset="1" stop-color="${to}"/></linearGradient></defs><rect width="100%" height="100%" fill="url(#g)"/>${motif}</svg>`;
    writeFileSync(join(generatedDir, file), await sharp(Buffer.from(svg)).jpeg({ quality: 85 }).toBuffer());
  }
  generatedManifest.push(
    [
      file,
      `${mood[0]?.toUpperCase()}${mood.slice(1)} ${shape} abstract background #${i + 1} (generated)`,
      `Generated ${orientation} abstract background: ${shape} over a ${mood} gradient. Computer-generated demo content, not a photograph.`,
      ["generated", "abstract", "background", "gradient", mood, shape, orientation, "pattern", "wallpaper"].join(";"),
      "abstract",
      "Generated demo (Edgestock seed)",
    ]
      .map(csvField)
      .join(","),
  );
}
writeFileSync(join(generatedDir, "manifest.csv"), `${generatedManifest.join("\n")}\n`);

const nsfwPath = process.env.NSFW_MODEL_PATH || DEFAULT_NSFW_MODEL_PATH;
if (!existsSync(nsfwPath)) {
  console.warn(`No NSFW classifier at ${nsfwPath}: the images are imported but wait for review (status pending_review, no NSFW score) until an admin approves them.`);
}

/** One importer run (migrate/main.ts) with its progress bar on this terminal; false when files failed. */
function importFolder(label: string, folder: string, manifest: string, contributor: string): boolean {
  console.log(`\n${label}: bun run migrate -- ${folder} --manifest ${manifest} --contributor ${contributor}`);
  const report = join(dataDir, "seed", `report-${contributor.split("@")[0]}.csv`);
  const run = spawnSync(process.execPath, [join(root, "migrate", "main.ts"), folder, "--manifest", manifest, "--contributor", contributor, "--report", report], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, EDGESTOCK_DATA_DIR: dataDir },
  });
  if (run.status === 0) return true;
  console.error(`${label}: the importer exited with ${run.status ?? run.signal}; failures are listed in ${report}`);
  return false;
}

const photosOk = importFolder("Demo photographs (demo/)", join(root, "demo"), join(root, "demo", "manifest.csv"), PHOTOS_CONTRIBUTOR);
const generatedOk = importFolder("Generated backgrounds", generatedDir, join(generatedDir, "manifest.csv"), GENERATED_CONTRIBUTOR);

const { rows } = await db.execute<{ status: string; n: number; scored: number }>(
  sql`select status, count(*)::int as n, count(nsfw_score)::int as scored from images where duplicate_of is null group by status order by status`,
);
await pool.end();
console.log(`\nCatalogue: ${rows.map((r) => `${r.n} ${r.status}`).join(", ") || "empty"} (${rows.reduce((sum, r) => sum + r.scored, 0)} with an NSFW score).`);
if (rows.some((r) => r.status === "pending_review")) console.log("Images pending review wait for an admin: GET /v1/admin/moderation/queue.");
console.log(`Demo accounts (password "${DEMO_PASSWORD}"): ${ACCOUNTS.map((a) => `${a.email} (${a.role})`).join(", ")}`);
process.exit(photosOk && generatedOk ? 0 : 1);
