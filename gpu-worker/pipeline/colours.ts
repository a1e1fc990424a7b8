import { type ColourBucket, colourBucket, SRGB_TO_LINEAR, writeOklab } from "../../common/colours";
import { seededRandom } from "../../common/random";

/**
 * Dominant colours and the colour facet. Pure: the pipeline hands in a small raw RGB(A) raster it already
 * decoded; clustering happens in OKLab (Björn Ottosson, https://bottosson.github.io/posts/oklab/) so
 * distances and centroids match how different colours look rather than how their bytes differ.
 */

export { COLOUR_BUCKETS, type ColourBucket, colourBucket, hexToOklab, type Oklab } from "../../common/colours";

export interface DominantColour {
  /** Cluster centroid in sRGB, `#rrggbb` lowercase. */
  hex: string;
  /** Fraction of the counted pixels in this cluster, rounded to 4 decimals. */
  share: number;
  bucket: ColourBucket;
}

const MAX_ITERATIONS = 40;
const KMEANS_SEED = 0x9e3779b9;

function linearToSrgbByte(c: number): number {
  const v = c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055;
  return Math.round(Math.min(1, Math.max(0, v)) * 255);
}

/** OKLab → sRGB hex, clamping out-of-gamut centroids. */
function oklabToHex(L: number, a: number, b: number): string {
  const l = (L + 0.3963377774 * a + 0.2158037573 * b) ** 3;
  const m = (L - 0.1055613458 * a - 0.0638541728 * b) ** 3;
  const s = (L - 0.0894841775 * a - 1.291485548 * b) ** 3;
  const r = linearToSrgbByte(4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s);
  const g = linearToSrgbByte(-1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s);
  const bl = linearToSrgbByte(-0.0041960863 * l - 0.7034186147 * m + 1.707614701 * s);
  return `#${((r << 16) | (g << 8) | bl).toString(16).padStart(6, "0")}`;
}

// Histogram scratch, reused across calls (clustering is synchronous) and left zeroed after each.
const BIN_COUNT = 1 << 15;
const binPixels = new Uint32Array(BIN_COUNT);
const binLinear = new Float64Array(BIN_COUNT * 3);
const touchedBins = new Uint16Array(BIN_COUNT);

/** Index i with probability weights[i] / total (total > 0). */
function pickWeighted(weights: Float64Array, total: number, random: () => number): number {
  let target = random() * total;
  for (let i = 0; i < weights.length; i++) {
    target -= weights[i]!;
    if (target < 0) return i;
  }
  for (let i = weights.length - 1; i >= 0; i--) if (weights[i]! > 0) return i;
  return 0;
}

function squaredDistance(points: Float64Array, p: number, centres: Float64Array, c: number): number {
  const dL = points[p * 3]! - centres[c * 3]!;
  const da = points[p * 3 + 1]! - centres[c * 3 + 1]!;
  const db = points[p * 3 + 2]! - centres[c * 3 + 2]!;
  return dL * dL + da * da + db * db;
}

function roundShare(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

function byShareThenHex(x: DominantColour, y: DominantColour): number {
  return y.share - x.share || (x.hex < y.hex ? -1 : x.hex > y.hex ? 1 : 0);
}

/**
 * Up to `count` dominant colours of a raw RGB or RGBA raster (row-major, 8 bits per channel, any pixel
 * count), largest share first. Weighted k-means in OKLab, seeded by k-means++ with a fixed-seed PRNG,
 * over a 15-bit colour histogram (each occupied bin weighted by its pixel count,
 * placed at its members' mean colour): the same pixels give the same colours, in any order. Fully
 * transparent pixels (alpha 0) are skipped; others count fully. With at most `count` occupied bins each is
 * its own colour (so a flat-colour raster returns its colours exactly, and fewer than `count`); an empty
 * or fully transparent raster gives `[]`.
 *
 * @example
 * const { data, info } = await sharp(file).resize(64, 64, { fit: "inside" }).raw()
 *   .toBuffer({ resolveWithObject: true });
 * dominantColours(data, info.channels === 4 ? 4 : 3); // [{ hex: "#3a5f8c", share: 0.41, bucket: "blue" }, ...]
 */
export function dominantColours(rgb: Uint8Array | Buffer, channels: 3 | 4, count = 5): DominantColour[] {
  if (channels !== 3 && channels !== 4) throw new RangeError(`channels must be 3 or 4, got ${String(channels)}`);
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`count must be a positive integer, got ${count}`);

  // Histogram on 5 bits per channel, keeping each bin's mean colour in linear light: a 64x64 photo has
  // ~3000 distinct colours but ~500 occupied bins, and the bins are far finer than any cluster.
  const pixelCount = Math.floor(rgb.length / channels);
  let counted = 0;
  let used = 0;
  for (let i = 0, o = 0; i < pixelCount; i++, o += channels) {
    if (channels === 4 && rgb[o + 3] === 0) continue;
    const r = rgb[o]!;
    const g = rgb[o + 1]!;
    const b = rgb[o + 2]!;
    const bin = ((r >> 3) << 10) | ((g >> 3) << 5) | (b >> 3);
    if (binPixels[bin]!++ === 0) touchedBins[used++] = bin;
    binLinear[bin * 3]! += SRGB_TO_LINEAR[r]!;
    binLinear[bin * 3 + 1]! += SRGB_TO_LINEAR[g]!;
    binLinear[bin * 3 + 2]! += SRGB_TO_LINEAR[b]!;
    counted++;
  }
  if (counted === 0) return [];

  // Bins in index order, so the result does not depend on pixel order; the scratch is cleared as read.
  const bins = touchedBins.subarray(0, used).sort();
  const points = new Float64Array(used * 3);
  const weights = new Float64Array(used);
  for (let p = 0; p < used; p++) {
    const bin = bins[p]!;
    const w = binPixels[bin]!;
    weights[p] = w;
    writeOklab(binLinear[bin * 3]! / w, binLinear[bin * 3 + 1]! / w, binLinear[bin * 3 + 2]! / w, points, p * 3);
    binPixels[bin] = 0;
    binLinear.fill(0, bin * 3, bin * 3 + 3);
  }

  const { centres, clusterWeights } = used <= count ? { centres: points, clusterWeights: weights } : kMeans(points, weights, counted, count);

  // Clusters whose centroids round to the same sRGB colour are reported once.
  const weightByHex = new Map<string, number>();
  for (let k = 0; k < clusterWeights.length; k++) {
    const w = clusterWeights[k]!;
    if (w === 0) continue;
    const hex = oklabToHex(centres[k * 3]!, centres[k * 3 + 1]!, centres[k * 3 + 2]!);
    weightByHex.set(hex, (weightByHex.get(hex) ?? 0) + w);
  }
  const result: DominantColour[] = [];
  for (const [hex, w] of weightByHex) result.push({ hex, share: roundShare(w / counted), bucket: colourBucket(hex) });
  return result.sort(byShareThenHex);
}

/**
 * Weighted k-means (Lloyd) on OKLab points, seeded by k-means++ with a fixed-seed PRNG. Needs more
 * points than `count`. A cluster that empties keeps its centre and ends with weight 0.
 */
function kMeans(points: Float64Array, weights: Float64Array, totalWeight: number, count: number): { centres: Float64Array; clusterWeights: Float64Array } {
  const n = weights.length;
  // k-means++ seeding, weighted by pixel count × squared distance to the nearest chosen centre.
  const random = seededRandom(KMEANS_SEED);
  const centres = new Float64Array(count * 3);
  const nearest = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  const seedWeights = new Float64Array(n);
  let chosen = pickWeighted(weights, totalWeight, random);
  for (let k = 0; k < count; k++) {
    centres.set(points.subarray(chosen * 3, chosen * 3 + 3), k * 3);
    if (k === count - 1) break;
    let total = 0;
    for (let p = 0; p < n; p++) {
      const d2 = squaredDistance(points, p, centres, k);
      if (d2 < nearest[p]!) nearest[p] = d2;
      seedWeights[p] = weights[p]! * nearest[p]!;
      total += seedWeights[p]!;
    }
    chosen = pickWeighted(seedWeights, total, random);
  }

  // Lloyd iterations until no point changes cluster.
  const assignment = new Int32Array(n).fill(-1);
  const sums = new Float64Array(count * 3);
  const clusterWeights = new Float64Array(count);
  for (let iteration = 0; iteration < MAX_ITERATIONS; iteration++) {
    let changed = false;
    sums.fill(0);
    clusterWeights.fill(0);
    for (let p = 0; p < n; p++) {
      let best = 0;
      let bestDistance = Number.POSITIVE_INFINITY;
      for (let k = 0; k < count; k++) {
        const d2 = squaredDistance(points, p, centres, k);
        if (d2 < bestDistance) {
          bestDistance = d2;
          best = k;
        }
      }
      if (assignment[p] !== best) {
        assignment[p] = best;
        changed = true;
      }
      const w = weights[p]!;
      clusterWeights[best]! += w;
      sums[best * 3]! += w * points[p * 3]!;
      sums[best * 3 + 1]! += w * points[p * 3 + 1]!;
      sums[best * 3 + 2]! += w * points[p * 3 + 2]!;
    }
    // An emptied cluster keeps its old centre; with weight 0 the caller leaves it out.
    for (let k = 0; k < count; k++) {
      const w = clusterWeights[k]!;
      if (w === 0) continue;
      centres[k * 3] = sums[k * 3]! / w;
      centres[k * 3 + 1] = sums[k * 3 + 1]! / w;
      centres[k * 3 + 2] = sums[k * 3 + 2]! / w;
    }
    if (!changed) break;
  }

  return { centres, clusterWeights };
}
