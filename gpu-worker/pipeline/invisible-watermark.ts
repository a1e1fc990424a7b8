import { seededRandom as mulberry32 } from "../../common/random";
import { decodePixels } from "../imaging";
import { crc32 } from "./crc32";

/**
 * Invisible watermark carrying an image's UUID, embedded in every watermarked preview and read back
 * blindly (the detector has only the suspect file).
 *
 * Scheme. Luminance Y = 0.299R + 0.587G + 0.114B is area-averaged onto a canonical grid whose long
 * edge is 256 px (32 blocks of 8x8) and whose short edge is 8·round(32·short/long) px. Every
 * canonical pixel covers a fixed fraction of the picture, so any aspect-preserving resize maps onto
 * the same grid (near a rounding boundary the detector also tries the neighbouring grid). Each
 * block offers three zero-mean DST-II patterns ((1,2), (2,1), (2,2), which vanish at the block
 * edges: no seams) = 2016 coefficients for a 3:2 picture. A fixed pseudo-random permutation gives
 * each of the 160 payload bits ~13 coefficients spread over the whole picture; the bit is carried by
 * spread-transform dither modulation: the coefficients' projection on a fixed ±1/√n direction is
 * quantised to STEP·Z + dither + bit·STEP/2. The embedder splits the needed change over those
 * coefficients in proportion to how textured each block is (flat sky and skin get a quarter), adds
 * the canonical change, bilinearly upsampled, equally to R, G and B, then re-measures the result
 * and corrects what smoothing and clamping at 0/255 lost. The detector reads the projections,
 * decodes each bit from its lattice phase, and retries over contrast factors (GAINS).
 *
 * Payload: 160 bits = the UUID's 16 bytes, then CRC-32 over a format-version byte and those bytes.
 * An id is returned only when the CRC matches and the mean |soft bit| reaches MIN_CONFIDENCE
 * (unmarked pictures: 0.57-0.71; marked previews after WebP, JPEG q75 and a 50% resize: above
 * 0.9), so an unmarked picture yields null: a false id needs both to fail (≈ 2⁻³² per grid and
 * gain tried, before the gate).
 *
 * Strength: STEP = 72 gives PSNR ≈ 42-47 dB on 1200 px previews (lowest for the black/white
 * silhouette and the text page; the tests measure every sample).
 * Survives (measured on the sample photos): the pipeline's WebP q82 followed by JPEG q75, by a 50%
 * downscale + JPEG q75, JPEG q30, WebP q50, PNG, downscales to ~250 px long edge, upscaling, blur
 * (sigma ≤ 3), sharpening, brightness offsets, contrast cuts down to ~0.7 and boosts of ~10%.
 * Unreliable: greyscale conversion, saturation and gamma changes (they move luminance non-linearly),
 * contrast boosts of 20% or more (they clip highlights and shadows),
 * thumbnails under ~250 px, pictures that are almost entirely pure black/white (silhouettes need
 * extra feedback passes and hold it only through moderate attacks).
 * Does NOT survive: any crop (even a few pixels), rotation, flips, padding, borders, or a change of
 * aspect ratio: the grid has no resynchronisation, so it moves. Nor deliberate removal by someone
 * who knows the scheme (no secret key beyond the fixed seed).
 */

/** Size of the square transform blocks in the canonical grid. */
const BLOCK = 8;
/** Blocks along the canonical long edge (canonical long edge = 256 px). */
const LONG_BLOCKS = 32;
/** Patterns (row frequency, column frequency) of the block transform that carry the mark. */
const PATTERNS: ReadonlyArray<readonly [number, number]> = [
  [1, 2],
  [2, 1],
  [2, 2],
];
/** QIM step on each bit's spread-transform projection, in orthonormal units of 8-bit luminance. */
const STEP = 72;
/** Relative amplitude a perfectly flat block gets; textured blocks get 1 (see slotWeights). */
const FLAT_AMPLITUDE = 0.25;
/** Standard deviation of canonical luminance in a block at which it gets full amplitude. */
const TEXTURE_FOR_FULL_AMPLITUDE = 5;
const PAYLOAD_BITS = 160;
const FORMAT_VERSION = 1;
const SEED = 0x5eed_ed9e;
/**
 * The embedder re-measures its result and corrects what bilinear smoothing and clamping at 0/255
 * lost until every bit's projection is within GOOD_ENOUGH·STEP of its target (photos: one or two
 * passes; near-binary pictures need more).
 */
const MAX_FEEDBACK_PASSES = 6;
const GOOD_ENOUGH = 0.04;
/** Mean |soft bit| below which the detector reports nothing (unmarked pictures average 2/π ≈ 0.64). */
const MIN_CONFIDENCE = 0.76;
/**
 * Contrast factors the detector undoes before reading (1 first, then ±2% steps out to about
 * 0.7-1.35): the patterns have zero mean, so brightness offsets drop out, and a contrast change
 * only scales every projection.
 */
const GAINS: readonly number[] = Array.from({ length: 31 }, (_, i) => 1.02 ** ((i % 2 ? 1 : -1) * Math.ceil(i / 2)));
/** When the short-edge block count lies this close to .5, the detector also tries the neighbour grid. */
const GRID_AMBIGUITY = 0.15;
/** Smallest picture (long edge, px) the detector reads at all. */
const MIN_LONG_EDGE = 128;

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface RawImageInfo {
  width: number;
  height: number;
  channels: 3 | 4;
}

interface Grid {
  /** Blocks across and down. */
  bx: number;
  by: number;
  /** Canonical size in pixels. */
  cw: number;
  ch: number;
}

/** Separable area-averaging map from a source axis of `n` pixels onto `m` canonical pixels. */
interface AreaMap {
  start: Int32Array;
  src: Int32Array;
  weight: Float32Array;
}

/** Bilinear sampling positions of `n` full-size pixels between `m` canonical pixel centres. */
interface LinearMap {
  i0: Int32Array;
  i1: Int32Array;
  f: Float32Array;
}

/** How slots (block-major, then pattern) spread over payload bits; fixed per grid size. */
interface Layout {
  /** Payload bit each slot belongs to. */
  bit: Uint16Array;
  /** Slot's component of its bit's projection direction: ±1/√(slots of that bit). */
  direction: Float32Array;
  /** Per bit: QIM dither in [0, STEP). */
  dither: Float32Array;
}

const BASIS = buildBasis();

function buildBasis(): Float32Array[] {
  // Orthonormal DST-II patterns: sin(π·k·(n + ½)/8) vanishes at both block edges, so neighbouring
  // blocks join without the visible seams that DCT patterns leave in smooth skies.
  const wave = (k: number, n: number) => Math.sqrt(2 / BLOCK) * Math.sin((k * (n + 0.5) * Math.PI) / BLOCK);
  return PATTERNS.map(([u, v]) => {
    const out = new Float32Array(BLOCK * BLOCK);
    for (let y = 0; y < BLOCK; y++) {
      for (let x = 0; x < BLOCK; x++) out[y * BLOCK + x] = wave(u, y) * wave(v, x);
    }
    return out;
  });
}

function gridFor(width: number, height: number, shortBlocks: number): Grid {
  const landscape = width >= height;
  const bx = landscape ? LONG_BLOCKS : shortBlocks;
  const by = landscape ? shortBlocks : LONG_BLOCKS;
  return { bx, by, cw: bx * BLOCK, ch: by * BLOCK };
}

/** Short-edge block count as a real number; the embedder rounds it, the detector may try both sides. */
function exactShortBlocks(width: number, height: number): number {
  return (LONG_BLOCKS * Math.min(width, height)) / Math.max(width, height);
}

function embedGrid(width: number, height: number): Grid {
  return gridFor(width, height, Math.max(1, Math.round(exactShortBlocks(width, height))));
}

function candidateGrids(width: number, height: number): Grid[] {
  const exact = exactShortBlocks(width, height);
  const counts = [Math.max(1, Math.round(exact))];
  if (Math.abs(exact - Math.floor(exact) - 0.5) < GRID_AMBIGUITY) {
    counts.push(Math.max(1, Math.round(exact) === Math.floor(exact) ? Math.ceil(exact) : Math.floor(exact)));
  }
  return [...new Set(counts)].map((n) => gridFor(width, height, n));
}

function areaMap(n: number, m: number): AreaMap {
  const scale = n / m;
  const start = new Int32Array(m + 1);
  const src: number[] = [];
  const weight: number[] = [];
  for (let i = 0; i < m; i++) {
    start[i] = src.length;
    const a = i * scale;
    const b = (i + 1) * scale;
    for (let j = Math.floor(a); j < Math.min(n, Math.ceil(b)); j++) {
      const w = Math.min(b, j + 1) - Math.max(a, j);
      if (w > 1e-9) {
        src.push(j);
        weight.push(w / scale);
      }
    }
  }
  start[m] = src.length;
  return { start, src: Int32Array.from(src), weight: Float32Array.from(weight) };
}

function linearMap(n: number, m: number): LinearMap {
  const scale = m / n;
  const i0 = new Int32Array(n);
  const i1 = new Int32Array(n);
  const f = new Float32Array(n);
  for (let x = 0; x < n; x++) {
    const pos = Math.min(m - 1, Math.max(0, (x + 0.5) * scale - 0.5));
    const lo = Math.floor(pos);
    i0[x] = lo;
    i1[x] = Math.min(m - 1, lo + 1);
    f[x] = pos - lo;
  }
  return { i0, i1, f };
}

/** Which full-size pixels a luminance reading visits, and how they average onto the canonical grid. */
interface Sampling {
  /** Every `stride`-th row and column; each sample stands for a stride x stride cell. */
  stride: number;
  hmap: AreaMap;
  vmap: AreaMap;
}

function sampling(width: number, height: number, grid: Grid, stride: number): Sampling {
  return { stride, hmap: areaMap(Math.ceil(width / stride), grid.cw), vmap: areaMap(Math.ceil(height / stride), grid.ch) };
}

/**
 * Luminance of an interleaved 8-bit raster, area-averaged onto the canonical grid. With `change`,
 * reads what `applyChange` would write (the embedder's feedback) without writing it.
 */
function canonicalLuma(raw: Uint8Array, width: number, height: number, channels: number, grid: Grid, at: Sampling, change?: Upsampled): Float32Array {
  const { stride } = at;
  const cols = Math.ceil(width / stride);
  const rows = Math.ceil(height / stride);
  const across = new Float32Array(rows * grid.cw);
  const luma = new Float32Array(cols);
  const deltaRow = new Float32Array(grid.cw);
  const step = stride * channels;
  for (let r = 0; r < rows; r++) {
    const y = r * stride;
    let p = y * width * channels;
    if (change) {
      const { i0, i1, f } = change.hlin;
      change.fillRow(y, deltaRow);
      for (let c = 0, x = 0; c < cols; c++, x += stride, p += step) {
        const a = deltaRow[i0[x]!]!;
        const d = a + f[x]! * (deltaRow[i1[x]!]! - a) + 0.5;
        luma[c] = 0.299 * clampByte(raw[p]! + d) + 0.587 * clampByte(raw[p + 1]! + d) + 0.114 * clampByte(raw[p + 2]! + d);
      }
    } else if (channels >= 3) {
      for (let c = 0; c < cols; c++, p += step) luma[c] = 0.299 * raw[p]! + 0.587 * raw[p + 1]! + 0.114 * raw[p + 2]!;
    } else {
      for (let c = 0; c < cols; c++, p += step) luma[c] = raw[p]!;
    }
    averageAcross(luma, at.hmap, across, r * grid.cw);
  }
  return averageDown(across, at.vmap, grid);
}

/** Horizontal half of the area average: one source row onto `cw` canonical columns at `rows[base]`. */
function averageAcross(luma: Float32Array, hmap: AreaMap, rows: Float32Array, base: number): void {
  const { start, src, weight } = hmap;
  for (let i = 0, k = 0; i < start.length - 1; i++) {
    let acc = 0;
    for (const end = start[i + 1]!; k < end; k++) acc += luma[src[k]!]! * weight[k]!;
    rows[base + i] = acc;
  }
}

/** Vertical half of the area average: canonical-width rows onto the canonical grid. */
function averageDown(rows: Float32Array, vmap: AreaMap, grid: Grid): Float32Array {
  const { cw, ch } = grid;
  const out = new Float32Array(cw * ch);
  for (let j = 0; j < ch; j++) {
    const dst = j * cw;
    for (let k = vmap.start[j]!; k < vmap.start[j + 1]!; k++) {
      const w = vmap.weight[k]!;
      const srcRow = vmap.src[k]! * cw;
      for (let i = 0; i < cw; i++) out[dst + i]! += w * rows[srcRow + i]!;
    }
  }
  return out;
}

/** The carrying coefficients of every block, slot order (block-major, then pattern). */
function readCoefficients(canon: Float32Array, grid: Grid): Float32Array {
  const out = new Float32Array(grid.bx * grid.by * PATTERNS.length);
  let slot = 0;
  for (let by = 0; by < grid.by; by++) {
    for (let bx = 0; bx < grid.bx; bx++) {
      const origin = by * BLOCK * grid.cw + bx * BLOCK;
      for (const basis of BASIS) {
        let acc = 0;
        for (let y = 0; y < BLOCK; y++) {
          const row = origin + y * grid.cw;
          for (let x = 0; x < BLOCK; x++) acc += canon[row + x]! * basis[y * BLOCK + x]!;
        }
        out[slot++] = acc;
      }
    }
  }
  return out;
}

/**
 * Per slot, how much of its bit's change it takes (its allowed amplitude): smooth areas
 * (sky, skin) show low-frequency changes, texture masks them. A block counts as textured only as
 * much as its least textured quarter, so a mast against the sky does not carry a blotch into the
 * sky beside it. The detector does not need these weights; it only projects on fixed directions.
 */
function slotWeights(canon: Float32Array, grid: Grid): Float32Array {
  const out = new Float32Array(grid.bx * grid.by * PATTERNS.length);
  const half = BLOCK / 2;
  const n = half * half;
  for (let by = 0; by < grid.by; by++) {
    for (let bx = 0; bx < grid.bx; bx++) {
      let sigma = Infinity;
      for (let q = 0; q < 4; q++) {
        const origin = (by * BLOCK + (q >> 1) * half) * grid.cw + bx * BLOCK + (q & 1) * half;
        let sum = 0;
        let squares = 0;
        for (let y = 0; y < half; y++) {
          const row = origin + y * grid.cw;
          for (let x = 0; x < half; x++) {
            const v = canon[row + x]!;
            sum += v;
            squares += v * v;
          }
        }
        sigma = Math.min(sigma, Math.sqrt(Math.max(0, squares / n - (sum / n) ** 2)));
      }
      const amplitude = Math.min(1, Math.max(FLAT_AMPLITUDE, sigma / TEXTURE_FOR_FULL_AMPLITUDE));
      const first = (by * grid.bx + bx) * PATTERNS.length;
      out.fill(amplitude, first, first + PATTERNS.length);
    }
  }
  return out;
}

/** Each bit's spread-transform projection: the sum of its slots' coefficients along `direction`. */
function project(coefficients: Float32Array, layout: Layout): Float64Array {
  const out = new Float64Array(PAYLOAD_BITS);
  for (let s = 0; s < coefficients.length; s++) out[layout.bit[s]!]! += coefficients[s]! * layout.direction[s]!;
  return out;
}

/**
 * Slot changes that move every bit's projection by `move[bit]`: slot s changes by
 * move·w_s·sign(u_s) / Σ w·|u| (so that Σ u·change = move). Changes proportional to the allowed
 * amplitude keep the most visible change small; the least-squares split (∝ w²) would pile a whole
 * bit onto its one textured block and leave a blotch there.
 */
function spreadMoves(move: Float64Array, weights: Float32Array, layout: Layout): Float32Array {
  const norm = new Float64Array(PAYLOAD_BITS);
  for (let s = 0; s < weights.length; s++) norm[layout.bit[s]!]! += weights[s]! * Math.abs(layout.direction[s]!);
  const out = new Float32Array(weights.length);
  for (let s = 0; s < weights.length; s++) {
    const b = layout.bit[s]!;
    out[s] = (move[b]! * weights[s]! * Math.sign(layout.direction[s]!)) / norm[b]!;
  }
  return out;
}

/** Adds `amount[slot]` times each slot's basis function to the canonical delta. */
function addCoefficients(delta: Float32Array, amount: Float32Array, grid: Grid): void {
  let slot = 0;
  for (let by = 0; by < grid.by; by++) {
    for (let bx = 0; bx < grid.bx; bx++) {
      const origin = by * BLOCK * grid.cw + bx * BLOCK;
      for (const basis of BASIS) {
        const a = amount[slot++]!;
        if (a === 0) continue;
        for (let y = 0; y < BLOCK; y++) {
          const row = origin + y * grid.cw;
          for (let x = 0; x < BLOCK; x++) delta[row + x]! += a * basis[y * BLOCK + x]!;
        }
      }
    }
  }
}

const layouts = new Map<string, Layout>();

/** Slot-to-bit assignment, projection directions and dithers: identical in embedder and detector. */
function layoutFor(grid: Grid): Layout {
  const key = `${grid.bx}x${grid.by}`;
  const cached = layouts.get(key);
  if (cached) return cached;
  const slots = grid.bx * grid.by * PATTERNS.length;
  const random = mulberry32(SEED);
  const order = new Uint32Array(slots);
  for (let i = 0; i < slots; i++) order[i] = i;
  for (let i = slots - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  const bit = new Uint16Array(slots);
  const perBit = new Uint16Array(PAYLOAD_BITS);
  for (let i = 0; i < slots; i++) {
    bit[order[i]!] = i % PAYLOAD_BITS;
    perBit[i % PAYLOAD_BITS]!++;
  }
  const direction = new Float32Array(slots);
  for (let s = 0; s < slots; s++) direction[s] = (random() < 0.5 ? -1 : 1) / Math.sqrt(perBit[bit[s]!]!);
  const dither = new Float32Array(PAYLOAD_BITS);
  for (let b = 0; b < PAYLOAD_BITS; b++) dither[b] = random() * STEP;
  const layout = { bit, direction, dither };
  layouts.set(key, layout);
  return layout;
}

function payloadCheck(id: Uint8Array): number {
  const tagged = new Uint8Array(17);
  tagged[0] = FORMAT_VERSION;
  tagged.set(id, 1);
  return crc32(tagged);
}

function encodePayload(imageId: string): Uint8Array {
  if (!UUID_PATTERN.test(imageId)) throw new Error(`invisible watermark: not a UUID: ${imageId}`);
  const id = Uint8Array.from(imageId.replaceAll("-", "").match(/../g)!, (h) => Number.parseInt(h, 16));
  const check = payloadCheck(id);
  const bits = new Uint8Array(PAYLOAD_BITS);
  for (let i = 0; i < 128; i++) bits[i] = (id[i >> 3]! >> (7 - (i & 7))) & 1;
  for (let i = 0; i < 32; i++) bits[128 + i] = (check >>> (31 - i)) & 1;
  return bits;
}

function decodePayload(bits: Uint8Array): string | null {
  const id = new Uint8Array(16);
  for (let i = 0; i < 128; i++) id[i >> 3]! |= bits[i]! << (7 - (i & 7));
  let check = 0;
  for (let i = 0; i < 32; i++) check = ((check << 1) | bits[128 + i]!) >>> 0;
  if (check !== payloadCheck(id)) return null;
  const hex = Buffer.from(id).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function clampByte(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : v | 0;
}

/** A canonical-domain change, bilinearly upsampled to full size one row at a time. */
class Upsampled {
  readonly hlin: LinearMap;
  private readonly vlin: LinearMap;

  constructor(
    readonly delta: Float32Array,
    readonly grid: Grid,
    width: number,
    height: number,
  ) {
    this.hlin = linearMap(width, grid.cw);
    this.vlin = linearMap(height, grid.ch);
  }

  /** The change along full-size row `y`, still at canonical column resolution. */
  fillRow(y: number, row: Float32Array): void {
    const { cw } = this.grid;
    const r0 = this.vlin.i0[y]! * cw;
    const r1 = this.vlin.i1[y]! * cw;
    const fy = this.vlin.f[y]!;
    for (let i = 0; i < cw; i++) row[i] = this.delta[r0 + i]! + fy * (this.delta[r1 + i]! - this.delta[r0 + i]!);
  }
}

/** Writes `source + change` (the same change on R, G and B; rounded, clamped) into `out`. */
function applyChange(source: Uint8Array, out: Uint8Array, info: RawImageInfo, change: Upsampled): void {
  const { width, height, channels } = info;
  const row = new Float32Array(change.grid.cw);
  const { i0, i1, f } = change.hlin;
  for (let y = 0; y < height; y++) {
    change.fillRow(y, row);
    let p = y * width * channels;
    for (let x = 0; x < width; x++, p += channels) {
      const a = row[i0[x]!]!;
      // +0.5 then truncation rounds; plain number clamping is much faster in V8 than Uint8ClampedArray.
      const d = a + f[x]! * (row[i1[x]!]! - a) + 0.5;
      out[p] = clampByte(source[p]! + d);
      out[p + 1] = clampByte(source[p + 1]! + d);
      out[p + 2] = clampByte(source[p + 2]! + d);
    }
  }
}

/**
 * Embeds `imageId` invisibly into an interleaved 8-bit RGB(A) raster; alpha is left untouched.
 * @example const marked = embedWatermark(data, { width, height, channels: 3 }, image.id);
 */
export function embedWatermark(raw: Buffer | Uint8Array, info: RawImageInfo, imageId: string): Buffer {
  const { width, height, channels } = info;
  if (raw.length !== width * height * channels) throw new Error("invisible watermark: raster size does not match info");
  const bits = encodePayload(imageId);
  const grid = embedGrid(width, height);
  const layout = layoutFor(grid);
  const full = sampling(width, height, grid, 1);
  // Feedback readings only need the smooth change and where it clamps: every other pixel will do.
  const sparse = width >= 4 * grid.cw || height >= 4 * grid.ch ? sampling(width, height, grid, 2) : full;

  const canon = canonicalLuma(raw, width, height, channels, grid, full);
  const weights = slotWeights(canon, grid);
  const original = readCoefficients(canon, grid);
  const projection = project(original, layout);
  const target = new Float64Array(PAYLOAD_BITS);
  const move = new Float64Array(PAYLOAD_BITS);
  for (let b = 0; b < PAYLOAD_BITS; b++) {
    const offset = layout.dither[b]! + (bits[b]! * STEP) / 2;
    target[b] = Math.round((projection[b]! - offset) / STEP) * STEP + offset;
    move[b] = target[b]! - projection[b]!;
  }
  const change = new Upsampled(new Float32Array(grid.cw * grid.ch), grid, width, height);
  const before = readCoefficients(canonicalLuma(raw, width, height, channels, grid, sparse), grid);
  const intended = new Float32Array(original.length);
  for (let pass = 0; ; pass++) {
    const slotChange = spreadMoves(move, weights, layout);
    for (let s = 0; s < slotChange.length; s++) intended[s]! += slotChange[s]!;
    addCoefficients(change.delta, slotChange, grid);
    if (pass === MAX_FEEDBACK_PASSES) break;
    const after = readCoefficients(canonicalLuma(raw, width, height, channels, grid, sparse, change), grid);
    const achieved = new Float32Array(original.length);
    for (let s = 0; s < achieved.length; s++) {
      const moved = after[s]! - before[s]!;
      achieved[s] = original[s]! + moved;
      // Slots that clamping at 0/255 kept from moving take less of the correction.
      if (Math.abs(intended[s]!) > 1e-3) weights[s]! *= Math.min(1, Math.max(0.05, moved / intended[s]!)) ** 2;
    }
    const reached = project(achieved, layout);
    let worst = 0;
    for (let b = 0; b < PAYLOAD_BITS; b++) {
      move[b] = target[b]! - reached[b]!;
      worst = Math.max(worst, Math.abs(move[b]!));
    }
    if (worst < GOOD_ENOUGH * STEP) break;
  }
  const out = Buffer.from(raw);
  applyChange(raw, out, info, change);
  return out;
}

/** Reads the id from a decoded raster (1-4 interleaved 8-bit channels), or null when none is found. */
export function detectWatermarkRaw(raw: Buffer | Uint8Array, info: { width: number; height: number; channels: number }): string | null {
  const { width, height, channels } = info;
  if (Math.max(width, height) < MIN_LONG_EDGE || raw.length < width * height * channels) return null;
  for (const grid of candidateGrids(width, height)) {
    const canon = canonicalLuma(raw, width, height, channels, grid, sampling(width, height, grid, 1));
    const layout = layoutFor(grid);
    const projection = project(readCoefficients(canon, grid), layout);
    for (const gain of GAINS) {
      const bits = new Uint8Array(PAYLOAD_BITS);
      let confidence = 0;
      for (let b = 0; b < PAYLOAD_BITS; b++) {
        // +1 on the bit-0 lattice, -1 on the bit-1 lattice half a step away.
        const soft = Math.cos((2 * Math.PI * (projection[b]! / gain - layout.dither[b]!)) / STEP);
        bits[b] = soft < 0 ? 1 : 0;
        confidence += Math.abs(soft);
      }
      if (confidence / PAYLOAD_BITS < MIN_CONFIDENCE) continue;
      const id = decodePayload(bits);
      if (id) return id;
    }
  }
  return null;
}

/**
 * Decodes an encoded image (any format sharp reads) and returns the embedded UUID, or null.
 * @example const id = await detectWatermark(await readFile("suspect.jpg"));
 */
export async function detectWatermark(input: Buffer | Uint8Array): Promise<string | null> {
  const { data, info } = await decodePixels(input);
  return detectWatermarkRaw(data, info);
}
