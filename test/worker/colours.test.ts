import path from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { COLOUR_BUCKETS, colourBucket, dominantColours, hexToOklab } from "../../gpu-worker/pipeline/colours";

const REAL_IMAGES = path.resolve("test/fixtures/photos");

/** A raster of `pixels` pixels, the first `firstCount` one colour and the rest another. */
function twoColours(pixels: number, firstCount: number, first: number[], second: number[], channels: 3 | 4): Uint8Array {
  const out = new Uint8Array(pixels * channels);
  for (let i = 0; i < pixels; i++) out.set((i < firstCount ? first : second).slice(0, channels), i * channels);
  return out;
}

async function thumbnail(file: string): Promise<{ data: Buffer; channels: 3 | 4 }> {
  const { data, info } = await sharp(path.join(REAL_IMAGES, file)).resize(64, 64, { fit: "inside" }).toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
  return { data, channels: info.channels === 4 ? 4 : 3 };
}

function colourDistance(x: string, y: string): number {
  const a = hexToOklab(x);
  const b = hexToOklab(y);
  return Math.hypot(a.L - b.L, a.a - b.a, a.b - b.b);
}

describe("dominantColours", () => {
  it("finds 70% red and 30% blue", () => {
    const colours = dominantColours(twoColours(100, 70, [255, 0, 0], [0, 0, 255], 3), 3);
    expect(colours).toHaveLength(2);
    expect(colours[0]).toMatchObject({ hex: "#ff0000", bucket: "red" });
    expect(colours[0]!.share).toBeCloseTo(0.7, 3);
    expect(colours[1]).toMatchObject({ hex: "#0000ff", bucket: "blue" });
    expect(colours[1]!.share).toBeCloseTo(0.3, 3);
  });

  it("clusters noisy reds and blues into two colours near the pure ones", () => {
    const pixels = 4096;
    const rgb = new Uint8Array(pixels * 3);
    for (let i = 0; i < pixels; i++) {
      const jitter = (i * 37) % 21;
      rgb.set(i < pixels * 0.7 ? [245 + (jitter % 11), jitter, jitter] : [jitter, jitter, 235 + jitter], i * 3);
    }
    const colours = dominantColours(rgb, 3, 2);
    expect(colours.map((colour) => colour.bucket)).toEqual(["red", "blue"]);
    expect(colours[0]!.share).toBeCloseTo(0.7, 2);
    expect(colourDistance(colours[0]!.hex, "#ff0000")).toBeLessThan(0.06);
    expect(colourDistance(colours[1]!.hex, "#0000ff")).toBeLessThan(0.06);
  });

  it("skips fully transparent pixels", () => {
    const colours = dominantColours(twoColours(10, 4, [0, 255, 0, 255], [255, 0, 0, 0], 4), 4);
    expect(colours).toEqual([{ hex: "#00ff00", share: 1, bucket: "green" }]);
    expect(dominantColours(twoColours(10, 0, [0, 0, 0, 0], [9, 9, 9, 0], 4), 4)).toEqual([]);
  });

  it("returns fewer colours than asked when the image has fewer", () => {
    expect(dominantColours(twoColours(50, 25, [255, 255, 255], [0, 0, 0], 3), 3, 5)).toHaveLength(2);
  });

  it("is deterministic, whatever the pixel order", async () => {
    const { data, channels } = await thumbnail("chelsea.png");
    const first = dominantColours(data, channels);
    expect(dominantColours(data, channels)).toEqual(first);
    const reversed = new Uint8Array(data.length);
    for (let i = 0, j = data.length - channels; j >= 0; i += channels, j -= channels) {
      reversed.set(data.subarray(j, j + channels), i);
    }
    expect(dominantColours(reversed, channels)).toEqual(first);
  });

  it.each(["chelsea.png", "coffee.png", "horse.png", "rocket.jpg"])("gives five colours summing to 1 for %s", async (file) => {
    const { data, channels } = await thumbnail(file);
    const colours = dominantColours(data, channels);
    expect(colours).toHaveLength(5);
    const total = colours.reduce((sum, colour) => sum + colour.share, 0);
    expect(Math.abs(total - 1)).toBeLessThan(0.001);
    for (let i = 1; i < colours.length; i++) expect(colours[i]!.share).toBeLessThanOrEqual(colours[i - 1]!.share);
    for (const colour of colours) {
      expect(colour.hex).toMatch(/^#[0-9a-f]{6}$/);
      expect(COLOUR_BUCKETS).toContain(colour.bucket);
    }
  });
});

describe("colourBucket", () => {
  it.each([
    ["#ffffff", "white"],
    ["#f5f5f0", "white"],
    ["#000000", "black"],
    ["#141414", "black"],
    ["#808080", "gray"],
    ["#c0c0c0", "gray"],
    ["#708090", "gray"],
    ["#ff0000", "red"],
    ["#8b0000", "red"],
    ["#dc143c", "red"],
    ["#000080", "blue"],
    ["#0000ff", "blue"],
    ["#4682b4", "blue"],
    ["#87ceeb", "blue"],
    ["#8b4513", "brown"],
    ["#a0522d", "brown"],
    ["#6f4e37", "brown"],
    ["#d2b48c", "brown"],
    ["#ffc0cb", "pink"],
    ["#ff69b4", "pink"],
    ["#ff00ff", "pink"],
    ["#ff8000", "orange"],
    ["#ffa500", "orange"],
    ["#ffff00", "yellow"],
    ["#ffd700", "yellow"],
    ["#008000", "green"],
    ["#00ff00", "green"],
    ["#808000", "green"],
    ["#008080", "teal"],
    ["#40e0d0", "teal"],
    ["#800080", "purple"],
    ["#8a2be2", "purple"],
    ["#4b0082", "purple"],
  ])("puts %s in %s", (hex, bucket) => {
    expect(colourBucket(hex)).toBe(bucket);
  });

  it("accepts #rgb and bare hex, and rejects non-colours", () => {
    expect(colourBucket("f00")).toBe("red");
    expect(colourBucket("#FFF")).toBe("white");
    expect(() => colourBucket("red")).toThrow(TypeError);
  });
});

describe("hexToOklab", () => {
  it("matches Ottosson's reference values", () => {
    const white = hexToOklab("#ffffff");
    expect(white.L).toBeCloseTo(1, 4);
    expect(white.a).toBeCloseTo(0, 4);
    expect(white.b).toBeCloseTo(0, 4);
    const red = hexToOklab("#ff0000");
    expect(red.L).toBeCloseTo(0.628, 3);
    expect(red.a).toBeCloseTo(0.2249, 3);
    expect(red.b).toBeCloseTo(0.1258, 3);
  });
});
