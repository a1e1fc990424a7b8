/**
 * Generated photo-like JPEGs for the migration benchmark: a seeded scene (sky-to-ground gradient,
 * soft shapes) rendered at full size with a film-grain layer, so files are the size and entropy of
 * camera JPEGs (a few MB at 12 megapixels, quality 90) rather than flat colour that compresses to
 * nothing. Each file is distinct (its own seed), in subfolders of 500, with camera EXIF.
 * Files already there are kept, so a folder is made once and reused between runs.
 *
 *   bun scripts/bench/migrate/make-folder.ts <dir> [--count 200] [--megapixels 12]
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import sharp from "sharp";
import { seededRandom } from "../../../common/random";

export type FolderOptions = { count: number; megapixels: number; quality?: number };

const colour = (rnd: () => number) => `rgb(${Math.floor(rnd() * 256)},${Math.floor(rnd() * 256)},${Math.floor(rnd() * 256)})`;

/** Film grain, made once per size (libvips' gaussian noise costs over a second at 12 MP). */
const grains = new Map<string, Promise<Buffer>>();
function grainFor(width: number, height: number): Promise<Buffer> {
  const key = `${width}x${height}`;
  let grain = grains.get(key);
  if (!grain) {
    grain = sharp({ create: { width, height, channels: 3, background: "#808080", noise: { type: "gaussian", mean: 128, sigma: 18 } } })
      .raw()
      .toBuffer();
    grains.set(key, grain);
  }
  return grain;
}

/** One synthetic photo, deterministic from its seed. */
export async function benchPhoto(seed: number, width: number, height: number, quality = 90): Promise<Buffer> {
  const rnd = seededRandom(seed);
  // The scene is drawn at a quarter size (blur at full size costs seconds) and scaled up; the grain is full size.
  const [w, h] = [Math.round(width / 4), Math.round(height / 4)];
  const shapes = Array.from({ length: 14 }, () => {
    const [x, y, r] = [rnd() * w, rnd() * h, (0.04 + rnd() * 0.25) * Math.min(w, h)];
    return rnd() < 0.5
      ? `<circle cx="${x.toFixed(0)}" cy="${y.toFixed(0)}" r="${r.toFixed(0)}" fill="${colour(rnd)}" fill-opacity="${(0.3 + rnd() * 0.6).toFixed(2)}"/>`
      : `<rect x="${x.toFixed(0)}" y="${y.toFixed(0)}" width="${(r * 1.6).toFixed(0)}" height="${r.toFixed(0)}" transform="rotate(${(rnd() * 60 - 30).toFixed(0)} ${x.toFixed(0)} ${y.toFixed(0)})" fill="${colour(rnd)}" fill-opacity="${(0.3 + rnd() * 0.6).toFixed(2)}"/>`;
  }).join("");
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">
<defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${colour(rnd)}"/><stop offset="0.55" stop-color="${colour(rnd)}"/><stop offset="1" stop-color="${colour(rnd)}"/></linearGradient></defs>
<rect width="100%" height="100%" fill="url(#g)"/>${shapes}</svg>`;
  const grain = await grainFor(width, height);
  // Soft edges from sharp's blur at the small size (an SVG blur filter costs seconds in librsvg).
  const small = await sharp(Buffer.from(svg))
    .removeAlpha()
    .blur(Math.max(0.3, w / 400))
    .png()
    .toBuffer();
  const scene = await sharp(small).resize(width, height, { kernel: "cubic" }).raw().toBuffer();
  return sharp(scene, { raw: { width, height, channels: 3 } })
    .composite([{ input: grain, raw: { width, height, channels: 3 }, blend: "soft-light" }])
    .jpeg({ quality })
    .withExif({ IFD0: { Make: "Edgestock", Model: "Bench Camera", Software: "make-folder.ts" } })
    .toBuffer();
}

/** Makes (or completes) `count` photos under `dir`; returns the folder. */
export async function makeBenchFolder(dir: string, options: FolderOptions): Promise<string> {
  const height = Math.round(Math.sqrt((options.megapixels * 1e6 * 3) / 4));
  const width = Math.round((height * 4) / 3);
  for (let i = 0; i < options.count; i++) {
    const sub = join(dir, `roll-${String(Math.floor(i / 500)).padStart(3, "0")}`);
    const file = join(sub, `IMG_${String(i).padStart(6, "0")}.jpg`);
    if (existsSync(file)) continue;
    mkdirSync(sub, { recursive: true });
    await Bun.write(file, await benchPhoto(i + 1, width, height, options.quality));
  }
  return dir;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { count: { type: "string" }, megapixels: { type: "string" } } });
  const dir = positionals[0];
  if (!dir) throw new Error("usage: make-folder.ts <dir> [--count 200] [--megapixels 12]");
  const started = performance.now();
  await makeBenchFolder(dir, { count: Number(values.count ?? 200), megapixels: Number(values.megapixels ?? 12) });
  console.log(`${dir}: ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}
