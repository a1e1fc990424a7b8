/**
 * Perceptual hash (DCT pHash) for near-duplicate detection. Pure: the pipeline decodes once and hands in
 * a greyscale raster it already resized; nothing here touches sharp.
 *
 * The hash follows the reference pHash (phash.org `ph_dct_imagehash`):
 * - 2-D orthonormal DCT-II of the `size` x `size` raster;
 * - the 64 coefficients with horizontal and vertical frequency 1..8, i.e. the top-left 9x9 block minus
 *   row 0 and column 0. The DC term (mean brightness) and the pure row/column terms are skipped, so the
 *   hash ignores uniform brightness changes and every one of the 64 bits carries information;
 * - each coefficient compared with the median of those same 64 (mean of the 32nd and 33rd values);
 *   a coefficient strictly above it sets its bit, so a raster without ties sets exactly 32 bits.
 *
 * Bit order: coefficient (v, u) (v vertical, u horizontal frequency, both 1..8) is bit
 * `63 - ((v - 1) * 8 + (u - 1))`, row-major from the most significant bit, so the unsigned hash written
 * as 16 hex digits reads the 8x8 block left to right, top to bottom.
 */

/** Side of the square greyscale raster {@link perceptualHash} expects by default. */
export const PHASH_INPUT_SIZE = 32;

/** Frequencies 1..HASH_SIDE in each direction make up the hash. */
const HASH_SIDE = 8;
const HASH_BITS = HASH_SIDE * HASH_SIDE;

/** cos table per raster side: row k-1 holds α(k)·cos(π(2n+1)k / 2N) for k = 1..8, n = 0..N-1. */
const cosineTables = new Map<number, Float64Array>();

function cosineTable(size: number): Float64Array {
  let table = cosineTables.get(size);
  if (table === undefined) {
    table = new Float64Array(HASH_SIDE * size);
    const scale = Math.sqrt(2 / size);
    for (let k = 1; k <= HASH_SIDE; k++) {
      for (let n = 0; n < size; n++) {
        table[(k - 1) * size + n] = scale * Math.cos((Math.PI * (2 * n + 1) * k) / (2 * size));
      }
    }
    cosineTables.set(size, table);
  }
  return table;
}
cosineTable(PHASH_INPUT_SIZE);

// Scratch space reused across calls (hashing is synchronous, so calls never overlap).
let rowPass = new Float64Array(HASH_SIDE * PHASH_INPUT_SIZE);
const coefficients = new Float64Array(HASH_BITS);
const sorted = new Float64Array(HASH_BITS);

/**
 * 64-bit DCT perceptual hash of a `size` x `size` 8-bit greyscale raster (row-major, one byte per pixel),
 * as a signed 64-bit bigint so it fits a Postgres `bigint` column. Bit layout: see the module comment.
 *
 * @example
 * const { data } = await sharp(file).resize(PHASH_INPUT_SIZE, PHASH_INPUT_SIZE, { fit: "fill" })
 *   .flatten().greyscale().raw().toBuffer({ resolveWithObject: true });
 * const hash = perceptualHash(data);
 */
export function perceptualHash(gray: Uint8Array | Uint8ClampedArray | Buffer, size = PHASH_INPUT_SIZE): bigint {
  if (!Number.isInteger(size) || size <= HASH_SIDE) {
    throw new RangeError(`pHash raster side must be an integer above ${HASH_SIDE}, got ${size}`);
  }
  if (gray.length !== size * size) {
    throw new RangeError(`pHash expects ${size}x${size} = ${size * size} one-channel bytes, got ${gray.length} (drop alpha before greyscale)`);
  }
  const table = cosineTable(size);
  if (rowPass.length < HASH_SIDE * size) rowPass = new Float64Array(HASH_SIDE * size);

  // Separable DCT, only the frequencies needed: rowPass[v][x] = Σ_y C[v][y]·gray[y][x].
  rowPass.fill(0, 0, HASH_SIDE * size);
  for (let y = 0; y < size; y++) {
    const rowStart = y * size;
    for (let v = 0; v < HASH_SIDE; v++) {
      const c = table[v * size + y]!;
      const out = v * size;
      for (let x = 0; x < size; x++) rowPass[out + x]! += c * gray[rowStart + x]!;
    }
  }
  // coefficients[v][u] = Σ_x rowPass[v][x]·C[u][x].
  for (let v = 0; v < HASH_SIDE; v++) {
    const rowStart = v * size;
    for (let u = 0; u < HASH_SIDE; u++) {
      const cosStart = u * size;
      let sum = 0;
      for (let x = 0; x < size; x++) sum += rowPass[rowStart + x]! * table[cosStart + x]!;
      coefficients[v * HASH_SIDE + u] = sum;
    }
  }

  sorted.set(coefficients);
  sorted.sort();
  const median = (sorted[HASH_BITS / 2 - 1]! + sorted[HASH_BITS / 2]!) / 2;

  let high = 0;
  let low = 0;
  for (let i = 0; i < 32; i++) {
    high = (high << 1) | (coefficients[i]! > median ? 1 : 0);
    low = (low << 1) | (coefficients[i + 32]! > median ? 1 : 0);
  }
  return BigInt.asIntN(64, (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0));
}

function popCount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/**
 * Number of differing bits between two 64-bit hashes; signed and unsigned spellings of the same bits
 * compare equal.
 *
 * @example
 * hammingDistance(-1n, 0n); // 64
 */
export function hammingDistance(a: bigint, b: bigint): number {
  const diff = BigInt.asUintN(64, a ^ b);
  return popCount32(Number(diff >> 32n)) + popCount32(Number(diff & 0xffffffffn));
}
