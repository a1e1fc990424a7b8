import { readdirSync } from "node:fs";
import path from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { hammingDistance, PHASH_INPUT_SIZE, perceptualHash } from "../../gpu-worker/pipeline/phash";

const REAL_IMAGES = path.resolve("test/fixtures/photos");
const photos = readdirSync(REAL_IMAGES)
  .filter((name) => /\.(png|jpe?g)$/i.test(name))
  .sort()
  .map((name) => path.join(REAL_IMAGES, name));

/** The pipeline's pHash input: flattened, squashed to 32x32, one grey byte per pixel. */
async function hashOf(input: string | Buffer): Promise<bigint> {
  const gray = await sharp(input).flatten({ background: "#ffffff" }).resize(PHASH_INPUT_SIZE, PHASH_INPUT_SIZE, { fit: "fill" }).greyscale().raw().toBuffer();
  return perceptualHash(gray);
}

/** Deterministic pseudo-random bytes (mulberry32), so the reference test needs no fixtures. */
function noise(length: number, seed: number): Uint8Array {
  let state = seed;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) % 256;
  }
  return out;
}

/** Textbook O(n⁴) 2-D DCT-II and pHash bit rule, written independently of the module's separable pass. */
function referenceHash(gray: Uint8Array, size: number): bigint {
  const alpha = (k: number) => (k === 0 ? Math.sqrt(1 / size) : Math.sqrt(2 / size));
  const block: number[] = [];
  for (let v = 1; v <= 8; v++) {
    for (let u = 1; u <= 8; u++) {
      let sum = 0;
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          sum += gray[y * size + x]! * Math.cos(((2 * x + 1) * u * Math.PI) / (2 * size)) * Math.cos(((2 * y + 1) * v * Math.PI) / (2 * size));
        }
      }
      block.push(alpha(u) * alpha(v) * sum);
    }
  }
  const ordered = [...block].sort((a, b) => a - b);
  const median = (ordered[31]! + ordered[32]!) / 2;
  let hash = 0n;
  for (const coefficient of block) hash = (hash << 1n) | (coefficient > median ? 1n : 0n);
  return BigInt.asIntN(64, hash);
}

function bitCount(hash: bigint): number {
  return hammingDistance(hash, 0n);
}

describe("perceptualHash", () => {
  it("matches a brute-force DCT on 32x32 and 16x16 rasters", () => {
    for (const seed of [1, 2, 3]) {
      const gray = noise(32 * 32, seed);
      expect(perceptualHash(gray)).toBe(referenceHash(gray, 32));
    }
    const small = noise(16 * 16, 7);
    expect(perceptualHash(small, 16)).toBe(referenceHash(small, 16));
  });

  it("returns a signed 64-bit value with half the bits set", () => {
    const hash = perceptualHash(noise(32 * 32, 11));
    expect(hash).toBeGreaterThanOrEqual(-(2n ** 63n));
    expect(hash).toBeLessThan(2n ** 63n);
    expect(bitCount(hash)).toBe(32);
  });

  it("ignores a uniform brightness shift (the DC term is not hashed)", () => {
    const gray = noise(32 * 32, 5).map((value) => Math.floor(value / 2));
    const brighter = gray.map((value) => value + 60);
    expect(perceptualHash(brighter)).toBe(perceptualHash(gray));
  });

  it("refuses a raster of the wrong size, such as grey plus alpha", () => {
    expect(() => perceptualHash(new Uint8Array(32 * 32 * 2))).toThrow(RangeError);
    expect(() => perceptualHash(new Uint8Array(64), 8)).toThrow(RangeError);
  });

  it("gives the same hash for the same image", async () => {
    const photo = photos[0]!;
    expect(await hashOf(photo)).toBe(await hashOf(photo));
  });

  it.each(photos.map((file) => [path.basename(file), file]))("keeps %s within distance 6 through JPEG q75, a 50%% resize and +10%% brightness", async (_name, file) => {
    const original = await hashOf(file);
    const { width } = await sharp(file).metadata();
    const jpeg = await sharp(file).flatten({ background: "#ffffff" }).jpeg({ quality: 75 }).toBuffer();
    const half = await sharp(file)
      .resize(Math.round(width / 2))
      .png()
      .toBuffer();
    const brighter = await sharp(file).modulate({ brightness: 1.1 }).png().toBuffer();
    expect(hammingDistance(original, await hashOf(jpeg))).toBeLessThanOrEqual(6);
    expect(hammingDistance(original, await hashOf(half))).toBeLessThanOrEqual(6);
    expect(hammingDistance(original, await hashOf(brighter))).toBeLessThanOrEqual(6);
  });

  it("keeps different photos more than 20 bits apart", async () => {
    expect(photos.length).toBeGreaterThanOrEqual(8);
    const hashes = await Promise.all(photos.map((file) => hashOf(file)));
    for (let i = 0; i < hashes.length; i++) {
      for (let j = i + 1; j < hashes.length; j++) {
        expect(hammingDistance(hashes[i]!, hashes[j]!), `${photos[i]} vs ${photos[j]}`).toBeGreaterThan(20);
      }
    }
  });
});

describe("hammingDistance", () => {
  it("counts differing bits of signed 64-bit values", () => {
    expect(hammingDistance(0n, 0n)).toBe(0);
    expect(hammingDistance(-1n, 0n)).toBe(64);
    expect(hammingDistance(-(2n ** 63n), 0n)).toBe(1);
    expect(hammingDistance(-1n, 2n ** 64n - 1n)).toBe(0);
    expect(hammingDistance(0b1011n, 0b0110n)).toBe(3);
    expect(hammingDistance(-2n, 1n)).toBe(64);
  });

  it("is symmetric", () => {
    const a = -0x123456789abcdefn;
    const b = 0x7edcba9876543210n;
    expect(hammingDistance(a, b)).toBe(hammingDistance(b, a));
  });
});
